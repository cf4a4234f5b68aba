package pep

import (
	"encoding/xml"
	"errors"
	"io"
	"strconv"

	"github.com/parley-im/parley/xmpp"
)

const nsXML = "http://www.w3.org/XML/1998/namespace"

var errTruncated = errors.New("pep: element ends early")

// AppendElement reads from d the rest of the element that start opened and
// appends it to dst in a self-contained form: every element names its
// namespace where it differs from its parent's (inherited is the default
// namespace where the element will be written, "" when it stands alone),
// attribute namespaces are declared on the spot, and comments and
// processing instructions are dropped. The result can be stored and later
// written into any stream, whatever prefixes the sender had declared
// around it. PEP item payloads, private XML and vCards are kept this way.
func AppendElement(dst []byte, d *xml.Decoder, start xml.StartElement, inherited string) ([]byte, error) {
	stack := []string{inherited}
	open := false // a start tag is waiting for '>' or '/>'
	var tok xml.Token = start
	for {
		switch t := tok.(type) {
		case xml.StartElement:
			if open {
				dst = append(dst, '>')
			}
			dst = appendStart(dst, t, stack[len(stack)-1])
			stack = append(stack, t.Name.Space)
			open = true
		case xml.EndElement:
			if open {
				dst = append(dst, "/>"...)
				open = false
			} else {
				dst = append(dst, "</"...)
				dst = append(dst, t.Name.Local...)
				dst = append(dst, '>')
			}
			stack = stack[:len(stack)-1]
			if len(stack) == 1 {
				return dst, nil
			}
		case xml.CharData:
			if open {
				dst = append(dst, '>')
				open = false
			}
			dst = xmpp.AppendEscaped(dst, string(t), false)
		}
		var err error
		if tok, err = d.Token(); err != nil {
			if errors.Is(err, io.EOF) {
				err = errTruncated
			}
			return dst, err
		}
	}
}

// appendStart appends a start tag without its closing '>'.
func appendStart(dst []byte, t xml.StartElement, parentNS string) []byte {
	dst = append(dst, '<')
	dst = append(dst, t.Name.Local...)
	if t.Name.Space != parentNS {
		dst = appendAttr(dst, "xmlns", t.Name.Space)
	}
	n := 0
	for _, a := range t.Attr {
		switch {
		case a.Name.Space == "xmlns", a.Name.Space == "" && a.Name.Local == "xmlns":
			// declarations are rewritten, not copied
		case a.Name.Space == "":
			dst = appendAttr(dst, a.Name.Local, a.Value)
		case a.Name.Space == nsXML:
			dst = appendAttr(dst, "xml:"+a.Name.Local, a.Value)
		default:
			n++
			p := "ns" + strconv.Itoa(n)
			dst = appendAttr(dst, "xmlns:"+p, a.Name.Space)
			dst = appendAttr(dst, p+":"+a.Name.Local, a.Value)
		}
	}
	return dst
}

func appendAttr(dst []byte, name, value string) []byte {
	dst = append(dst, ' ')
	dst = append(dst, name...)
	dst = append(dst, `="`...)
	dst = xmpp.AppendEscaped(dst, value, true)
	return append(dst, '"')
}

// attr returns the value of the unqualified attribute name of t.
func attr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// Form is a submitted XEP-0004 data form: field var → values, FORM_TYPE
// included.
type Form map[string][]string

// dataForm is the wire shape of a jabber:x:data form.
type dataForm struct {
	Type   string `xml:"type,attr"`
	Fields []struct {
		Var    string   `xml:"var,attr"`
		Values []string `xml:"jabber:x:data value"`
	} `xml:"jabber:x:data field"`
}

// readForm decodes the first jabber:x:data form among the children of the
// element start opened, consuming it. ok is false if there is none; cancel
// is true for a form of type "cancel".
func readForm(d *xml.Decoder) (f Form, cancel, ok bool, err error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, false, false, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Space != NSDataForms || t.Name.Local != "x" || ok {
				if err := d.Skip(); err != nil {
					return nil, false, false, err
				}
				continue
			}
			var df dataForm
			if err := d.DecodeElement(&df, &t); err != nil {
				return nil, false, false, err
			}
			ok, cancel = true, df.Type == "cancel"
			f = Form{}
			for _, fl := range df.Fields {
				if fl.Var != "" {
					f[fl.Var] = fl.Values
				}
			}
		case xml.EndElement:
			return f, cancel, ok, nil
		}
	}
}

func appendText(dst []byte, s string) []byte { return xmpp.AppendEscaped(dst, s, false) }
