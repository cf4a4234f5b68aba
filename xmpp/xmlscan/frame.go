package xmlscan

import "bytes"

// framer finds where a top-level element ends while its bytes trickle in.
// It is the cheap half of a two-pass scan: when an element does not arrive
// in one piece, the framer follows the bytes as they come (resuming where it
// stopped, so a stanza split over many reads costs linear time) and calls
// for the full parse only once the element is complete, or once it has seen
// something the parser will reject. It knows only as much XML as it takes to
// find the end of a well-formed element: tags, quoted attribute values and
// CDATA sections.
type framer struct {
	pos   int // next byte to look at, relative to the element start
	state uint8
	depth int  // open elements
	elems int  // elements seen, the top-level one included
	quote byte // delimiter of the attribute value being skipped
	prev  byte // last byte of the start tag outside attribute values
	k     int  // bytes of "<![CDATA[" matched so far

	tagOnly bool // stop at the end of the first start tag (stream headers)
}

const (
	fText      = iota // character data: look for '<'
	fTagOpen          // after '<'
	fStartTag         // inside a start tag
	fQuoted           // inside an attribute value
	fEndTag           // inside an end tag
	fBang             // after "<!"
	fBangDash         // after "<!-"
	fCDATAOpen        // matching "<![CDATA["
	fCDATA            // inside a CDATA section
)

// The outcomes of framer.run.
const (
	frameMore     = iota // the element goes on past the bytes at hand
	frameComplete        // the element ends within the bytes at hand
	frameHint            // the bytes at hand hold an error the parser will report
)

const cdataOpen = "<![CDATA["

func (f *framer) reset() { *f = framer{} }

// run continues over b, which holds the element from its first byte.
func (f *framer) run(b []byte, lim *Limits) int {
	for f.pos < len(b) {
		switch f.state {
		case fText:
			k := bytes.IndexByte(b[f.pos:], '<')
			if k < 0 {
				f.pos = len(b)
				return frameMore
			}
			f.pos += k + 1
			f.state = fTagOpen
		case fTagOpen:
			switch b[f.pos] {
			case '/':
				f.pos++
				f.state = fEndTag
			case '!':
				f.pos++
				f.state = fBang
			case '?':
				return frameHint
			default:
				f.state, f.prev = fStartTag, 0
			}
		case fStartTag:
			c := b[f.pos]
			f.pos++
			if f.prev == '/' && c != '>' {
				return frameHint
			}
			switch c {
			case '"', '\'':
				f.quote, f.state = c, fQuoted
			case '<':
				return frameHint
			case '>':
				if f.tagOnly {
					return frameComplete
				}
				f.elems++
				level := f.depth
				if f.prev == '/' {
					if f.depth == 0 {
						return frameComplete
					}
				} else {
					f.depth++
				}
				if level > lim.MaxDepth || f.elems-1 > lim.MaxElements {
					return frameHint
				}
				f.state = fText
			default:
				f.prev = c
			}
		case fQuoted:
			for ; f.pos < len(b); f.pos++ {
				c := b[f.pos]
				if c == f.quote {
					f.pos++
					f.prev, f.state = c, fStartTag
					break
				}
				if c == '<' {
					return frameHint
				}
			}
		case fEndTag:
			k := bytes.IndexByte(b[f.pos:], '>')
			if k < 0 {
				f.pos = len(b)
				return frameMore
			}
			f.pos += k + 1
			f.depth--
			if f.depth <= 0 {
				return frameComplete
			}
			f.state = fText
		case fBang:
			switch b[f.pos] {
			case '[':
				f.state, f.k = fCDATAOpen, 2
			case '-':
				f.pos++
				f.state = fBangDash
			default:
				return frameHint
			}
		case fBangDash:
			return frameHint
		case fCDATAOpen:
			if b[f.pos] != cdataOpen[f.k] {
				return frameHint
			}
			f.pos++
			f.k++
			if f.k == len(cdataOpen) {
				f.state = fCDATA
			}
		case fCDATA:
			k := bytes.Index(b[f.pos:], []byte("]]>"))
			if k < 0 {
				if p := len(b) - 2; p > f.pos {
					f.pos = p
				}
				return frameMore
			}
			f.pos += k + 3
			f.state = fText
		}
	}
	return frameMore
}
