package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/skerry/skerry/init/internal/console"
	"github.com/skerry/skerry/init/internal/supervisor"
	"github.com/skerry/skerry/services/initapi"
)

// serveControl serves init's control socket (status, logs, power).
func serveControl(log *console.Logger, sup *supervisor.Supervisor, boot *initapi.Boot, request func(int)) error {
	if err := os.MkdirAll(filepath.Dir(initapi.SocketPath), 0o755); err != nil {
		return err
	}
	os.Remove(initapi.SocketPath)
	l, err := net.Listen("unix", initapi.SocketPath)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", initapi.SocketPath, err)
	}
	if err := os.Chmod(initapi.SocketPath, 0o600); err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, initapi.Status{BootID: boot.BootID, Ready: boot.Ready, Services: sup.Status()})
	})
	mux.HandleFunc("GET /v1/services/{name}/logs", func(w http.ResponseWriter, r *http.Request) {
		logs, err := sup.Logs(r.PathValue("name"))
		if err != nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"code": "unknown_service", "message": err.Error()})
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(logs)
	})
	power := func(cmd int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusAccepted, map[string]string{"status": "accepted"})
			request(cmd)
		}
	}
	mux.Handle("POST /v1/poweroff", power(unix.LINUX_REBOOT_CMD_POWER_OFF))
	mux.Handle("POST /v1/reboot", power(unix.LINUX_REBOOT_CMD_RESTART))
	go http.Serve(l, mux)
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
