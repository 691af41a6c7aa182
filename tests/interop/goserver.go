// A Go net/http server with IdleTimeout: 300ms — the setup of the classic "connection reset by
// peer" report — that counts executions per X-Request-Id. GET /stats prints the counts.
//
//	go run goserver.go -addr 127.0.0.1:0   (prints "listening ADDR" once it accepts)
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	idle := flag.Duration("idle", 300*time.Millisecond, "IdleTimeout")
	flag.Parse()

	var mu sync.Mutex
	counts := map[string]int{}
	mux := http.NewServeMux()
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		ids := make([]string, 0, len(counts))
		for id := range counts {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			fmt.Fprintf(w, "%s %d\n", id, counts[id])
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if id := r.Header.Get("X-Request-Id"); id != "" {
			mu.Lock()
			counts[r.Method+" "+id]++
			mu.Unlock()
		}
		io.WriteString(w, "ok")
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening %s\n", ln.Addr())
	os.Stdout.Sync()
	srv := &http.Server{Handler: mux, IdleTimeout: *idle, ReadHeaderTimeout: 10 * time.Second}
	srv.Serve(ln)
}
