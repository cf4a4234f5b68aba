package vcard

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"io"
	"strconv"
	"strings"

	"github.com/parley-im/parley/modules/pep"
	"github.com/parley-im/parley/xmpp"
)

// XEP-0084 User Avatar nodes (and payload namespaces), and the XEP-0398
// account feature.
const (
	NSAvatarData     = "urn:xmpp:avatar:data"
	NSAvatarMetadata = "urn:xmpp:avatar:metadata"
	FeatureConvert   = "urn:xmpp:pep-vcard-conversion:0"
)

// photo is the PHOTO of a vCard, or the avatar a PEP metadata item points
// to: the image's media type, its base64 text and the hex SHA-1 of the
// image (the XEP-0084 id).
type photo struct {
	typ, b64, id string
}

// vcardPhoto is the part of a vCard the conversion reads.
type vcardPhoto struct {
	Photo *struct {
		Type   string `xml:"vcard-temp TYPE"`
		BinVal string `xml:"vcard-temp BINVAL"`
	} `xml:"vcard-temp PHOTO"`
}

// photoOf returns the embedded photo of a vCard; ok is false if it has
// none (or only an external one, or undecodable data).
func photoOf(v []byte) (p photo, ok bool) {
	var vp vcardPhoto
	if err := xml.Unmarshal(v, &vp); err != nil || vp.Photo == nil {
		return photo{}, false
	}
	b64 := strings.Join(strings.Fields(vp.Photo.BinVal), "")
	img, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(img) == 0 {
		return photo{}, false
	}
	sum := sha1.Sum(img)
	typ := strings.TrimSpace(vp.Photo.Type)
	if typ == "" {
		typ = "image/png"
	}
	return photo{typ: typ, b64: b64, id: hex.EncodeToString(sum[:])}, true
}

// metadata is a urn:xmpp:avatar:metadata payload.
type metadata struct {
	Infos []struct {
		ID   string `xml:"id,attr"`
		Type string `xml:"type,attr"`
		URL  string `xml:"url,attr"`
	} `xml:"urn:xmpp:avatar:metadata info"`
}

// pepAvatar returns the avatar user published with XEP-0084, read through
// svc. known is false if no metadata was ever published; a published
// metadata without an embedded image (avatar disabled, or only at a URL)
// gives known true and ok false.
func pepAvatar(ctx context.Context, svc *pep.Service, user xmpp.JID) (p photo, known, ok bool, err error) {
	metas, _, err := svc.Items(ctx, user, NSAvatarMetadata)
	if err != nil || len(metas) == 0 {
		return photo{}, false, false, err
	}
	var md metadata
	if err := xml.Unmarshal(metas[len(metas)-1].Payload, &md); err != nil {
		return photo{}, true, false, nil
	}
	// XEP-0398 §3.1: the info that does not point to an external URL.
	for _, info := range md.Infos {
		if info.URL != "" || info.ID == "" {
			continue
		}
		datas, _, err := svc.Items(ctx, user, NSAvatarData)
		if err != nil {
			return photo{}, true, false, err
		}
		for _, d := range datas {
			if d.ID != info.ID {
				continue
			}
			var data struct {
				Text string `xml:",chardata"`
			}
			if err := xml.Unmarshal(d.Payload, &data); err != nil {
				return photo{}, true, false, nil
			}
			b64 := strings.Join(strings.Fields(data.Text), "")
			img, err := base64.StdEncoding.DecodeString(b64)
			sum := sha1.Sum(img)
			if err != nil || hex.EncodeToString(sum[:]) != info.ID {
				return photo{}, true, false, nil // §3.1: the hash must match the id
			}
			return photo{typ: info.Type, b64: b64, id: info.ID}, true, true, nil
		}
	}
	return photo{}, true, false, nil
}

// withAvatar returns the vCard to serve for user: the stored one (v, nil
// for none) with its PHOTO made to match the PEP avatar (XEP-0398 §3.1),
// when one was published. The stored vCard is left as the user set it.
func withAvatar(ctx context.Context, svc *pep.Service, user xmpp.JID, v []byte) ([]byte, error) {
	av, known, ok, err := pepAvatar(ctx, svc, user)
	if err != nil || !known {
		return v, err
	}
	cur, has := photoOf(v)
	switch {
	case ok && has && cur.id == av.id:
		return v, nil
	case !ok && !has:
		return v, nil
	case !ok:
		return replacePhoto(v, nil)
	}
	return replacePhoto(v, &av)
}

// replacePhoto rewrites a vCard (nil for an empty one) without its PHOTO
// elements and, if p is not nil, with p as its PHOTO.
func replacePhoto(v []byte, p *photo) ([]byte, error) {
	out := []byte(`<vCard xmlns="` + NS + `"`)
	var children []byte
	if len(v) > 0 {
		d := xml.NewDecoder(bytes.NewReader(v))
		root, err := xmpp.NextStart(d)
		if err != nil {
			return nil, err
		}
		for _, a := range root.Attr {
			if a.Name.Space == "" && a.Name.Local != "xmlns" {
				out = append(out, ' ')
				out = append(out, a.Name.Local...)
				out = append(out, `="`...)
				out = xmpp.AppendEscaped(out, a.Value, true)
				out = append(out, '"')
			}
		}
		for {
			tok, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, err
			}
			t, ok := tok.(xml.StartElement)
			if !ok {
				continue
			}
			if t.Name == (xml.Name{Space: NS, Local: "PHOTO"}) {
				if err := d.Skip(); err != nil {
					return nil, err
				}
				continue
			}
			if children, err = pep.AppendElement(children, d, t, NS); err != nil {
				return nil, err
			}
		}
	}
	out = append(out, '>')
	out = append(out, children...)
	if p != nil {
		out = append(out, "<PHOTO><TYPE>"...)
		out = xmpp.AppendEscaped(out, p.typ, false)
		out = append(out, "</TYPE><BINVAL>"...)
		out = append(out, p.b64...)
		out = append(out, "</BINVAL></PHOTO>"...)
	}
	return append(out, "</vCard>"...), nil
}

// publishAvatar makes the PEP avatar follow a vCard just set (XEP-0398
// §3.2): its photo is published to the data node, then announced in the
// metadata node; a vCard without a photo disables a PEP avatar that had
// an embedded image.
func publishAvatar(ctx context.Context, svc *pep.Service, user, publisher xmpp.JID, v []byte) error {
	cur, known, ok, err := pepAvatar(ctx, svc, user)
	if err != nil {
		return err
	}
	p, has := photoOf(v)
	switch {
	case has && ok && cur.id == p.id:
		return nil
	case !has && (!known || !ok):
		return nil
	case !has:
		empty := []byte(`<metadata xmlns="` + NSAvatarMetadata + `"/>`)
		_, err := svc.Publish(ctx, user, publisher, NSAvatarMetadata, []pep.Item{{ID: "current", Payload: empty}}, nil)
		return err
	}
	data := []byte(`<data xmlns="` + NSAvatarData + `">` + p.b64 + `</data>`)
	if _, err := svc.Publish(ctx, user, publisher, NSAvatarData, []pep.Item{{ID: p.id, Payload: data}}, nil); err != nil {
		return err
	}
	size := base64.StdEncoding.DecodedLen(len(p.b64)) - strings.Count(p.b64[max(len(p.b64)-2, 0):], "=")
	meta := []byte(`<metadata xmlns="` + NSAvatarMetadata + `"><info bytes="` + strconv.Itoa(size) + `" id="` + p.id + `" type="`)
	meta = xmpp.AppendEscaped(meta, p.typ, true)
	meta = append(meta, `"/></metadata>`...)
	_, err = svc.Publish(ctx, user, publisher, NSAvatarMetadata, []pep.Item{{ID: p.id, Payload: meta}}, nil)
	return err
}
