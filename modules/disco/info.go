package disco

import (
	"cmp"
	"encoding/base64"
	"hash"
	"slices"

	"github.com/parley-im/parley/xmpp"
)

// NSData is the XEP-0004 data forms namespace, used here for XEP-0128
// extended information.
const NSData = "jabber:x:data"

// Info is the content of a disco#info result: what an entity is, what it
// supports, and its XEP-0128 extended information.
type Info struct {
	Identities []Identity
	Features   []string
	Forms      []Form
}

// Identity is one disco#info identity. Lang is its xml:lang ("" if none).
type Identity struct {
	Category, Type, Lang, Name string
}

// Form is an XEP-0128 extended information form: a data form of type
// result whose hidden FORM_TYPE field is Type.
type Form struct {
	Type   string
	Fields []Field // other than FORM_TYPE
}

// Field is one field of a Form.
type Field struct {
	Var    string
	Values []string
}

// Ver returns the XEP-0115 §5.1 verification string of i, hashed with the
// function newHash returns: identities sorted by category, type and
// xml:lang, then the sorted features, then the forms sorted by FORM_TYPE
// with their fields sorted by var and each field's values sorted, every
// factor followed by '<'; the digest in standard Base64. Sorting is by
// bytes (i;octet). i is not modified.
func (i Info) Ver(newHash func() hash.Hash) string {
	h := newHash()
	var s []byte
	ids := slices.Clone(i.Identities)
	slices.SortFunc(ids, compareIdentity)
	for _, id := range ids {
		s = append(s, id.Category...)
		s = append(s, '/')
		s = append(s, id.Type...)
		s = append(s, '/')
		s = append(s, id.Lang...)
		s = append(s, '/')
		s = append(s, id.Name...)
		s = append(s, '<')
	}
	for _, f := range sorted(i.Features) {
		s = append(s, f...)
		s = append(s, '<')
	}
	forms := slices.Clone(i.Forms)
	slices.SortFunc(forms, func(a, b Form) int { return cmp.Compare(a.Type, b.Type) })
	for _, form := range forms {
		s = append(s, form.Type...)
		s = append(s, '<')
		fields := slices.Clone(form.Fields)
		slices.SortFunc(fields, func(a, b Field) int { return cmp.Compare(a.Var, b.Var) })
		for _, f := range fields {
			s = append(s, f.Var...)
			s = append(s, '<')
			for _, v := range sorted(f.Values) {
				s = append(s, v...)
				s = append(s, '<')
			}
		}
	}
	h.Write(s)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// compareIdentity orders identities field by field, as XEP-0115 §5.1 asks
// (not by their joined form: "a-b/x" must sort after "a/x").
func compareIdentity(a, b Identity) int {
	return cmp.Or(cmp.Compare(a.Category, b.Category), cmp.Compare(a.Type, b.Type),
		cmp.Compare(a.Lang, b.Lang), cmp.Compare(a.Name, b.Name))
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// AppendQuery appends i as a disco#info <query/> element, mirroring node
// if it is not empty (XEP-0030 §3.2).
func (i Info) AppendQuery(dst []byte, node string) []byte {
	dst = append(dst, `<query xmlns="`+NSInfo+`"`...)
	if node != "" {
		dst = appendAttr(dst, "node", node)
	}
	dst = append(dst, '>')
	for _, id := range i.Identities {
		dst = append(dst, "<identity"...)
		dst = appendAttr(dst, "category", id.Category)
		dst = appendAttr(dst, "type", id.Type)
		if id.Lang != "" {
			dst = appendAttr(dst, "xml:lang", id.Lang)
		}
		if id.Name != "" {
			dst = appendAttr(dst, "name", id.Name)
		}
		dst = append(dst, "/>"...)
	}
	for _, f := range i.Features {
		dst = append(dst, "<feature"...)
		dst = appendAttr(dst, "var", f)
		dst = append(dst, "/>"...)
	}
	for _, form := range i.Forms {
		dst = append(dst, `<x xmlns="`+NSData+`" type="result">`...)
		dst = append(dst, `<field var="FORM_TYPE" type="hidden"><value>`...)
		dst = xmpp.AppendEscaped(dst, form.Type, false)
		dst = append(dst, "</value></field>"...)
		for _, f := range form.Fields {
			dst = append(dst, "<field"...)
			dst = appendAttr(dst, "var", f.Var)
			dst = append(dst, '>')
			for _, v := range f.Values {
				dst = append(dst, "<value>"...)
				dst = xmpp.AppendEscaped(dst, v, false)
				dst = append(dst, "</value>"...)
			}
			dst = append(dst, "</field>"...)
		}
		dst = append(dst, "</x>"...)
	}
	return append(dst, "</query>"...)
}

func appendAttr(dst []byte, name, value string) []byte {
	dst = append(dst, ' ')
	dst = append(dst, name...)
	dst = append(dst, `="`...)
	dst = xmpp.AppendEscaped(dst, value, true)
	return append(dst, '"')
}
