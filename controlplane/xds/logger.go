package xds

import (
	"fmt"
	"log/slog"
)

// cacheLogger lets go-control-plane's printf-style logging reach slog.
type cacheLogger struct{ log *slog.Logger }

func (l cacheLogger) Debugf(format string, args ...any) {
	l.log.Debug("xds cache", "detail", fmt.Sprintf(format, args...))
}

func (l cacheLogger) Infof(format string, args ...any) {
	l.log.Debug("xds cache", "detail", fmt.Sprintf(format, args...))
}

func (l cacheLogger) Warnf(format string, args ...any) {
	l.log.Warn("xds cache", "detail", fmt.Sprintf(format, args...))
}

func (l cacheLogger) Errorf(format string, args ...any) {
	l.log.Error("xds cache", "detail", fmt.Sprintf(format, args...))
}
