package server

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/parley-im/parley/modules"
	"github.com/parley-im/parley/xmpp"
)

// TokenFile holds the admin API's bearer token, relative to the data
// directory; it is written at start with mode 0600, so only the user the
// server runs as (and root) can use the API.
const TokenFile = "admin.token"

// Status is what GET /api/status returns and `parley status` prints.
type Status struct {
	Version        string             `json:"version"`
	Uptime         string             `json:"uptime"`
	Domains        []string           `json:"domains"`
	Sessions       int                `json:"sessions"`
	Connections    int                `json:"connections"`
	MaxSessions    int                `json:"max_sessions"`
	OpenFiles      int                `json:"open_files"`
	OpenFilesLimit uint64             `json:"open_files_limit"`
	Goroutines     int                `json:"goroutines"`
	HeapBytes      uint64             `json:"heap_bytes"`
	StanzasIn      map[string]float64 `json:"stanzas_in"`
	StanzasOut     map[string]float64 `json:"stanzas_out"`
	OutboundBytes  float64            `json:"outbound_queue_bytes"`
	SlowConsumers  float64            `json:"slow_consumer_kicks"`
	StoreCommits   uint64             `json:"store_commits"`
	StoreCommitAvg float64            `json:"store_commit_avg_seconds"`
	StoreOpsAvg    float64            `json:"store_commit_avg_ops"`
	Modules        []string           `json:"modules"`
}

var started = time.Now()

// adminHandler serves /metrics, /api/status and the user API on the
// loopback admin address.
func (srv *Server) adminHandler() http.Handler {
	token := randomID(24)
	path := filepath.Join(srv.cfg.DataDir, TokenFile)
	if err := writeFileAtomic(path, []byte(token+"\n"), 0o600); err != nil {
		srv.log.Error("cannot write the admin token; the user API is disabled", "err", err)
		token = ""
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(srv.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, srv.Status())
	})
	authed := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			if token == "" || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				writeJSON(w, http.StatusUnauthorized, apiError{"missing or wrong admin token (see " + path + ")"})
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("POST /api/users", authed(srv.apiUserAdd))
	mux.HandleFunc("GET /api/users", authed(srv.apiUserList))
	mux.HandleFunc("DELETE /api/users/{jid}", authed(srv.apiUserDel))
	mux.HandleFunc("PUT /api/users/{jid}/password", authed(srv.apiUserPasswd))
	return mux
}

type apiError struct {
	Error string `json:"error"`
}

// UserRequest is the body of POST /api/users and PUT .../password.
type UserRequest struct {
	JID      string `json:"jid,omitempty"`
	Password string `json:"password"`
}

func (srv *Server) apiUserAdd(w http.ResponseWriter, r *http.Request) {
	var req UserRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{"bad request body: " + err.Error()})
		return
	}
	user, ok := srv.apiJID(w, req.JID)
	if !ok {
		return
	}
	if err := srv.accounts.Create(r.Context(), user, req.Password); err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, modules.ErrAccountExists) {
			code = http.StatusConflict
		}
		writeJSON(w, code, apiError{err.Error()})
		return
	}
	srv.log.Info("account created", "jid", user.String(), "by", "admin api")
	writeJSON(w, http.StatusCreated, map[string]string{"jid": user.String()})
}

func (srv *Server) apiUserList(w http.ResponseWriter, r *http.Request) {
	domains := srv.domainList()
	if d := r.URL.Query().Get("domain"); d != "" {
		if !srv.isLocal(d) {
			writeJSON(w, http.StatusNotFound, apiError{"not a local domain: " + d})
			return
		}
		domains = []string{d}
	}
	users := []string{}
	for _, d := range domains {
		list, err := srv.accounts.List(r.Context(), d)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, apiError{err.Error()})
			return
		}
		for _, u := range list {
			users = append(users, u.String())
		}
	}
	writeJSON(w, http.StatusOK, users)
}

func (srv *Server) apiUserDel(w http.ResponseWriter, r *http.Request) {
	user, ok := srv.apiJID(w, r.PathValue("jid"))
	if !ok {
		return
	}
	if exists, err := srv.accounts.Exists(r.Context(), user); err != nil || !exists {
		writeJSON(w, http.StatusNotFound, apiError{"no such user: " + user.String()})
		return
	}
	if err := srv.accounts.Delete(r.Context(), user); err != nil {
		writeJSON(w, http.StatusInternalServerError, apiError{err.Error()})
		return
	}
	srv.log.Info("account deleted", "jid", user.String(), "by", "admin api")
	w.WriteHeader(http.StatusNoContent)
}

func (srv *Server) apiUserPasswd(w http.ResponseWriter, r *http.Request) {
	user, ok := srv.apiJID(w, r.PathValue("jid"))
	if !ok {
		return
	}
	var req UserRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{"bad request body: " + err.Error()})
		return
	}
	if exists, err := srv.accounts.Exists(r.Context(), user); err != nil || !exists {
		writeJSON(w, http.StatusNotFound, apiError{"no such user: " + user.String()})
		return
	}
	if err := srv.accounts.SetPassword(r.Context(), user, req.Password); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// apiJID parses a bare JID of a local domain or answers 400.
func (srv *Server) apiJID(w http.ResponseWriter, s string) (xmpp.JID, bool) {
	j, err := xmpp.ParseJID(s)
	switch {
	case err != nil:
		writeJSON(w, http.StatusBadRequest, apiError{"invalid jid " + s + ": " + err.Error()})
	case j.Local() == "" || !j.IsBare():
		writeJSON(w, http.StatusBadRequest, apiError{"a user is a bare jid like alice@example.org: " + s})
	case !srv.isLocal(j.Domain()):
		writeJSON(w, http.StatusBadRequest, apiError{"not a local domain: " + j.Domain()})
	default:
		return j, true
	}
	return xmpp.JID{}, false
}

// Status returns a snapshot of the server's state and counters.
func (srv *Server) Status() Status {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st := Status{
		Version:        Version(),
		Uptime:         time.Since(started).Round(time.Second).String(),
		Domains:        srv.domainList(),
		Connections:    srv.conns.count(),
		MaxSessions:    srv.conns.cap,
		OpenFiles:      openFiles(),
		OpenFilesLimit: srv.fdLimit,
		Goroutines:     runtime.NumGoroutine(),
		HeapBytes:      ms.HeapInuse,
		StanzasIn:      counterValues(srv.metrics.stanzasIn),
		StanzasOut:     counterValues(srv.metrics.stanzasOut),
		OutboundBytes:  gaugeValue(srv.metrics.outboundBytes),
		SlowConsumers:  counterValue(srv.metrics.slowConsumers),
	}
	st.Sessions = int(gaugeValue(srv.metrics.sessions))
	var h dto.Metric
	if srv.metrics.commitSeconds.Write(&h) == nil && h.Histogram != nil {
		st.StoreCommits = h.Histogram.GetSampleCount()
		if st.StoreCommits > 0 {
			st.StoreCommitAvg = h.Histogram.GetSampleSum() / float64(st.StoreCommits)
		}
	}
	var o dto.Metric
	if srv.metrics.commitOps.Write(&o) == nil && o.Histogram != nil && o.Histogram.GetSampleCount() > 0 {
		st.StoreOpsAvg = o.Histogram.GetSampleSum() / float64(o.Histogram.GetSampleCount())
	}
	for _, info := range srv.infos {
		st.Modules = append(st.Modules, info.ID)
	}
	return st
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// ReadToken reads the admin token a running server wrote into dataDir.
func ReadToken(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, TokenFile))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
