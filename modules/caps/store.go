package caps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/parley-im/parley/storage"
)

// Storage layout: one key per verified capability set,
//
//	caps/<hash>/<ver> → {"features": [...]}
//
// where hash is the XEP-0115 hash name ("sha-1") and ver the verification
// string the features hash to. Only verified sets are stored, so a record
// is true for every entity that advertises the same hash and ver.

func cacheKey(hash, ver string) []byte {
	return []byte("caps/" + hash + "/" + ver)
}

type record struct {
	Features []string `json:"features"`
}

// loadFeatures returns the stored features of hash/ver, or ok false.
func loadFeatures(ctx context.Context, be storage.Backend, hash, ver string) (features []string, ok bool, err error) {
	v, err := be.Get(ctx, cacheKey(hash, ver))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("caps: load %s/%s: %w", hash, ver, err)
	}
	var r record
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, false, fmt.Errorf("caps: decode %s/%s: %w", hash, ver, err)
	}
	return r.Features, true, nil
}

// saveFeatures stores a verified capability set.
func saveFeatures(ctx context.Context, be storage.Backend, hash, ver string, features []string) error {
	v, err := json.Marshal(record{Features: features})
	if err != nil {
		return fmt.Errorf("caps: encode %s/%s: %w", hash, ver, err)
	}
	if err := storage.Put(ctx, be, cacheKey(hash, ver), v); err != nil {
		return fmt.Errorf("caps: save %s/%s: %w", hash, ver, err)
	}
	return nil
}
