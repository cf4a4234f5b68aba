package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/parley-im/parley/server"
)

// statusCmd prints a running server's status.
func statusCmd(args []string, stdout io.Writer) error {
	cfg, err := configFlag("status", args)
	if err != nil {
		return err
	}
	a := &accountsClient{cfg: cfg}
	var st server.Status
	if err := a.api(context.Background(), http.MethodGet, "/api/status", nil, &st); err != nil {
		if err == errNoServer {
			return fmt.Errorf("no server answers on the admin address %s", cfg.Admin.Address)
		}
		return err
	}
	printStatus(stdout, st)
	return nil
}

func printStatus(w io.Writer, st server.Status) {
	fmt.Fprintf(w, "version        %s (up %s)\n", st.Version, st.Uptime)
	fmt.Fprintf(w, "domains        %s\n", strings.Join(st.Domains, ", "))
	fmt.Fprintf(w, "sessions       %d bound, %d connections, cap %d\n", st.Sessions, st.Connections, st.MaxSessions)
	fmt.Fprintf(w, "open files     %d of %d\n", st.OpenFiles, st.OpenFilesLimit)
	fmt.Fprintf(w, "memory         %.1f MiB heap, %d goroutines\n", float64(st.HeapBytes)/(1<<20), st.Goroutines)
	fmt.Fprintf(w, "stanzas in     %s\n", kinds(st.StanzasIn))
	fmt.Fprintf(w, "stanzas out    %s\n", kinds(st.StanzasOut))
	fmt.Fprintf(w, "outbound queue %.0f bytes, %.0f slow-consumer kicks\n", st.OutboundBytes, st.SlowConsumers)
	fmt.Fprintf(w, "store          %d commits, avg %.0f µs, avg %.1f ops\n", st.StoreCommits, st.StoreCommitAvg*1e6, st.StoreOpsAvg)
	fmt.Fprintf(w, "modules        %s\n", strings.Join(st.Modules, " "))
}

func kinds(m map[string]float64) string {
	var parts []string
	for _, k := range []string{"message", "presence", "iq", "other"} {
		if v, ok := m[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %.0f", k, v))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
