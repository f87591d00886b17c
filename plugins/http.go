package plugins

import (
	"encoding/json"
	"errors"
	"net/http"
)

// The plugin admin API on the node's HTTP listener:
//
//	GET  /v1/plugins               {"plugins": [Info, ...]}
//	POST /v1/plugins/{name}/reload {"plugin": Info} — 404 for an unknown
//	                               plugin, 500 with {"error": "...",
//	                               "plugin": Info} when the reload failed
//	                               (the old module or process stays)
//
// `weir plugin list` and `weir plugin reload` are their clients.

// Router is where Routes adds handlers; *server.HTTPServer and
// *http.ServeMux implement it.
type Router interface {
	Handle(pattern string, handler http.Handler)
}

// ListResponse is the answer of GET /v1/plugins.
type ListResponse struct {
	Plugins []Info `json:"plugins"`
}

// ReloadResponse is the answer of POST /v1/plugins/{name}/reload.
type ReloadResponse struct {
	Plugin *Info  `json:"plugin,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Routes adds the plugin admin API to r. s may be nil (no plugins).
func (s *Set) Routes(r Router) {
	r.Handle("GET /v1/plugins", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		list := s.List()
		if list == nil {
			list = []Info{}
		}
		writeJSON(w, http.StatusOK, ListResponse{Plugins: list})
	}))
	r.Handle("POST /v1/plugins/{name}/reload", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		info, err := s.Reload(req.Context(), req.PathValue("name"))
		switch {
		case errors.Is(err, ErrUnknownPlugin):
			writeJSON(w, http.StatusNotFound, ReloadResponse{Error: err.Error()})
		case err != nil:
			writeJSON(w, http.StatusInternalServerError, ReloadResponse{Plugin: &info, Error: err.Error()})
		default:
			writeJSON(w, http.StatusOK, ReloadResponse{Plugin: &info})
		}
	}))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// An error here means the client went away: nothing to tell it.
	_ = json.NewEncoder(w).Encode(v)
}
