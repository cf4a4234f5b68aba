package conf

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Error is one configuration error. Its text has the form editors and
// compilers use, "file:line: key: message", for example
//
//	parley.yaml:14: listeners[1].adress: unknown key (did you mean "address"?)
//
// Key is a dotted path from the top of the file (or of the block being
// decoded): mapping keys are joined with dots and list items are indexed from
// 0 in brackets. Load, Parse and the Decode functions return every error they
// find as an errors.Join of *Error sorted by line; Errors unpacks them.
type Error struct {
	File string // the configuration file; "" for a block decoded on its own
	Line int    // 1-based line; 0 when the error is not tied to a line
	Key  string // "listeners[1].address", "modules.vcard.max_size"; "" for the file
	Msg  string // what is wrong, and where it helps, what would be right
	Err  error  // the underlying error, if any (reading a file, a parser)
}

func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		b.WriteString(e.File)
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	case e.File != "":
		b.WriteString(e.File)
		b.WriteString(": ")
	case e.Line > 0:
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	default:
		b.WriteString("conf: ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Errors returns the *Error values in err, which may be a single *Error, a
// tree of errors.Join, or either wrapped with %w. Errors of other types in
// the tree are skipped.
func Errors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case *Error:
			out = append(out, e)
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return out
}

// Qualify places the errors of a block decoded on its own into the file it
// came from: every *Error in err gets File file (if it had none) and its Key
// prefixed with prefix, so "max_size" under prefix "modules.vcard" becomes
// "modules.vcard.max_size". A server uses it for a block it handed to a
// backend or plugin that called Decode. The shape of err is kept, except
// that an error wrapping *Errors with %w (`fmt.Errorf("mysql: %w", err)`) is
// replaced by them: their text names the key, which says more. Errors
// holding no *Error are returned as they are.
func Qualify(err error, file, prefix string) error {
	switch e := err.(type) {
	case nil:
		return nil
	case *Error:
		q := *e
		if q.File == "" {
			q.File = file
		}
		q.Key = joinKey(prefix, q.Key)
		return &q
	case interface{ Unwrap() []error }:
		inner := e.Unwrap()
		out := make([]error, len(inner))
		for i, in := range inner {
			out[i] = Qualify(in, file, prefix)
		}
		return errors.Join(out...)
	}
	found := Errors(err)
	if len(found) == 0 {
		return err
	}
	out := make([]*Error, len(found))
	for i, e := range found {
		out[i] = Qualify(e, file, prefix).(*Error)
	}
	return joinErrors(out)
}

// joinErrors sorts errs by line (keeping the order of discovery on a line),
// drops exact repeats and joins them; nil when there are none.
func joinErrors(errs []*Error) error {
	if len(errs) == 0 {
		return nil
	}
	sorted := slices.Clone(errs)
	slices.SortStableFunc(sorted, func(a, b *Error) int { return cmp.Compare(a.Line, b.Line) })
	out := make([]error, 0, len(sorted))
	for i, e := range sorted {
		if i > 0 && sameError(e, sorted[i-1]) {
			continue
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// sameError reports whether a and b say the same thing at the same place.
// (Err is not compared: it may hold a type that == would panic on.)
func sameError(a, b *Error) bool {
	return a.File == b.File && a.Line == b.Line && a.Key == b.Key && a.Msg == b.Msg
}

// joinKey appends the relative key rel to the path prefix.
func joinKey(prefix, rel string) string {
	switch {
	case prefix == "":
		return rel
	case rel == "":
		return prefix
	case rel[0] == '[':
		return prefix + rel
	default:
		return prefix + "." + rel
	}
}

// childKey is the path of mapping key name under prefix. Names that would
// make the path ambiguous are quoted: modules["a.b"].
func childKey(prefix, name string) string {
	if name == "" || strings.ContainsFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}) {
		return prefix + "[" + strconv.Quote(name) + "]"
	}
	return joinKey(prefix, name)
}

// indexKey is the path of list item i under prefix.
func indexKey(prefix string, i int) string {
	return prefix + "[" + strconv.Itoa(i) + "]"
}

// parentKey strips the last element from a path ("" for a top-level key).
func parentKey(key string) string {
	if strings.HasSuffix(key, `"]`) {
		// A quoted name may itself hold dots and brackets; it is escaped by
		// strconv.Quote, so its opening `["` is the last unescaped one.
		if i := strings.LastIndex(key, `["`); i >= 0 {
			return key[:i]
		}
	}
	i := strings.LastIndexAny(key, ".[")
	if i < 0 {
		return ""
	}
	return key[:i]
}

// underKey reports whether key is base or lies inside it.
func underKey(key, base string) bool {
	if !strings.HasPrefix(key, base) {
		return false
	}
	rest := key[len(base):]
	return rest == "" || rest[0] == '.' || rest[0] == '['
}

// suggest returns the candidate closest to word, if one is close enough to
// be a likely typo, else "".
func suggest(word string, candidates []string) string {
	best, bestDist := "", -1
	lw := strings.ToLower(word)
	for _, c := range candidates {
		d := editDistance(lw, strings.ToLower(c))
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	limit := 2
	if len(word) <= 4 {
		limit = 1
	}
	if bestDist < 0 || bestDist > limit {
		return ""
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b,
// in bytes: insertions, deletions, substitutions and swaps of two adjacent
// bytes ("prot" for "port") each count 1.
func editDistance(a, b string) int {
	// d[i][j] is the distance between a[:i] and b[:j]; three rows suffice.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// oneOf is the message for a value outside a fixed set.
func oneOf(got string, valid ...string) string {
	quoted := make([]string, len(valid))
	for i, v := range valid {
		quoted[i] = strconv.Quote(v)
	}
	msg := fmt.Sprintf("%q is not one of %s", got, strings.Join(quoted, ", "))
	if s := suggest(got, valid); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return msg
}
