package embedded

import (
	"fmt"
	"log/slog"

	"github.com/cockroachdb/pebble"
)

// slogger bridges Pebble's printf-style Logger into log/slog. Pebble logs
// rarely and only about things an operator may care for (WAL replay at
// open, a cleaner falling behind, failed metrics), so Infof maps to Info.
type slogger struct{ l *slog.Logger }

// Infof implements pebble.Logger.
func (s slogger) Infof(format string, args ...any) { s.l.Info(fmt.Sprintf(format, args...)) }

// Errorf logs at Error; Pebble's newer Logger interface has it.
func (s slogger) Errorf(format string, args ...any) { s.l.Error(fmt.Sprintf(format, args...)) }

// Fatalf logs at Error and panics. Pebble calls it on invariant violations
// and corruption and requires that it not return.
func (s slogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.l.Error(msg, "fatal", true)
	panic("embedded: pebble fatal error: " + msg)
}

// eventListener reports the events that need an operator's attention:
// background errors, slow disks and write stalls. Flushes and compactions
// are routine and not logged.
func eventListener(l *slog.Logger) *pebble.EventListener {
	return &pebble.EventListener{
		BackgroundError: func(err error) {
			l.Error("background error", "err", err)
		},
		DiskSlow: func(info pebble.DiskSlowInfo) {
			l.Warn("disk slow", "path", info.Path, "op", info.OpType.String(), "duration", info.Duration)
		},
		WriteStallBegin: func(info pebble.WriteStallBeginInfo) {
			l.Warn("write stall begins", "reason", info.Reason)
		},
		WriteStallEnd: func() {
			l.Info("write stall ends")
		},
	}
}

var _ pebble.Logger = slogger{}
