package vcard

import "fmt"

// Config is the vcard block of the configuration.
type Config struct {
	// MaxBytes is the largest vCard a user may store, in bytes of XML
	// (photos included); a larger one is refused with not-acceptable.
	// Default 65536 (64 KiB).
	MaxBytes int `yaml:"max_bytes"`
}

func defaultConfig() Config { return Config{MaxBytes: 64 << 10} }

func (c Config) validate() error {
	if c.MaxBytes < 256 {
		return fmt.Errorf("vcard: max_bytes must be at least 256, not %d", c.MaxBytes)
	}
	return nil
}
