package version

// Config is the version block of the configuration.
type Config struct {
	// HideOS leaves the operating system out of the answer, for operators
	// who would rather not tell. Default false.
	HideOS bool `yaml:"hide_os"`
}
