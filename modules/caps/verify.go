package caps

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"slices"

	"github.com/parley-im/parley/modules/disco"
	"github.com/parley-im/parley/xmpp"
)

// hashes are the hash functions this server verifies, by their names in
// the IANA Hash Function Textual Names registry (XEP-0115 §5.4, §8.1:
// SHA-1 is mandatory). A <c/> naming another one is resolved for its
// sender only.
var hashes = map[string]func() hash.Hash{
	"sha-1":   sha1.New,
	"sha-224": sha256.New224,
	"sha-256": sha256.New,
	"sha-384": sha512.New384,
	"sha-512": sha512.New,
}

// errIllFormed marks a disco#info response that XEP-0115 §5.4 says to
// consider ill-formed as a whole.
var errIllFormed = errors.New("caps: ill-formed disco#info response")

// discoQuery is a disco#info <query/> with its XEP-0128 forms.
type discoQuery struct {
	Identities []struct {
		Category string `xml:"category,attr"`
		Type     string `xml:"type,attr"`
		Lang     string `xml:"http://www.w3.org/XML/1998/namespace lang,attr"`
		Name     string `xml:"name,attr"`
	} `xml:"http://jabber.org/protocol/disco#info identity"`
	Features []struct {
		Var string `xml:"var,attr"`
	} `xml:"http://jabber.org/protocol/disco#info feature"`
	Forms []struct {
		Fields []struct {
			Var    string   `xml:"var,attr"`
			Type   string   `xml:"type,attr"`
			Values []string `xml:"jabber:x:data value"`
		} `xml:"jabber:x:data field"`
	} `xml:"jabber:x:data x"`
}

// parseInfo reads the disco#info result resp and applies the checks of
// XEP-0115 §5.4 step 3: duplicate identities or features, two forms with
// one FORM_TYPE, or a FORM_TYPE with differing values make the response
// ill-formed (errIllFormed); a form without a hidden FORM_TYPE is dropped.
func parseInfo(resp *xmpp.Stanza) (disco.Info, error) {
	if resp.Payload != (xml.Name{Space: disco.NSInfo, Local: "query"}) {
		return disco.Info{}, fmt.Errorf("caps: disco#info result from %s has no query", resp.From)
	}
	var q discoQuery
	if err := resp.UnmarshalPayload(&q); err != nil {
		return disco.Info{}, fmt.Errorf("caps: disco#info result from %s: %w", resp.From, err)
	}
	var info disco.Info
	for _, id := range q.Identities {
		i := disco.Identity{Category: id.Category, Type: id.Type, Lang: id.Lang, Name: id.Name}
		if slices.Contains(info.Identities, i) {
			return disco.Info{}, fmt.Errorf("%w: identity %s/%s/%s/%s twice", errIllFormed, i.Category, i.Type, i.Lang, i.Name)
		}
		info.Identities = append(info.Identities, i)
	}
	for _, f := range q.Features {
		if slices.Contains(info.Features, f.Var) {
			return disco.Info{}, fmt.Errorf("%w: feature %s twice", errIllFormed, f.Var)
		}
		info.Features = append(info.Features, f.Var)
	}
	var formTypes []string
	for _, x := range q.Forms {
		var form disco.Form
		hidden, typed := false, false
		for _, f := range x.Fields {
			if f.Var != "FORM_TYPE" {
				form.Fields = append(form.Fields, disco.Field{Var: f.Var, Values: f.Values})
				continue
			}
			for _, v := range f.Values {
				if typed && v != form.Type {
					return disco.Info{}, fmt.Errorf("%w: FORM_TYPE with values %q and %q", errIllFormed, form.Type, v)
				}
				form.Type, typed = v, true
			}
			hidden = f.Type == "hidden"
		}
		if !typed {
			continue
		}
		if slices.Contains(formTypes, form.Type) {
			return disco.Info{}, fmt.Errorf("%w: two forms of FORM_TYPE %s", errIllFormed, form.Type)
		}
		formTypes = append(formTypes, form.Type)
		if hidden {
			info.Forms = append(info.Forms, form)
		}
	}
	return info, nil
}
