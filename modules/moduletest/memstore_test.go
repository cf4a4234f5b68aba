package moduletest

import (
	"testing"

	"github.com/parley-im/parley/storage"
	"github.com/parley-im/parley/storage/storagetest"
)

func TestMemStoreConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend { return NewMemStore() })
}
