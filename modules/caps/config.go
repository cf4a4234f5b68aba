package caps

import (
	"errors"
	"time"
)

// Config is the caps block of the configuration.
type Config struct {
	// Timeout bounds the disco#info query the server sends to a client
	// whose capabilities it does not know yet. Default 30s.
	Timeout time.Duration `yaml:"timeout"`

	// CacheSize is how many verified capability sets are kept in memory.
	// They are also stored, so a set dropped from memory is read back from
	// the store rather than asked for again. Default 10000.
	CacheSize int `yaml:"cache_size"`
}

func defaultConfig() Config {
	return Config{Timeout: 30 * time.Second, CacheSize: 10000}
}

func (c Config) validate() error {
	switch {
	case c.Timeout <= 0:
		return errors.New("caps: timeout must be positive")
	case c.CacheSize <= 0:
		return errors.New("caps: cache_size must be positive")
	}
	return nil
}
