// Go's net/http client with its default Transport, run on a learning-benchmark schedule (see
// bench/learning.cpp for the format). Prints the same line as `learning client`.
//
//	go build -o learning_client learning_client.go && ./learning_client URL SCHEDULE
package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: learning_client URL SCHEDULE")
		os.Exit(2)
	}
	url, path := os.Args[1], os.Args[2]
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	requests, getFailures, postFailures, connections, getConnections := 0, 0, 0, 0, 0
	sinceMark, reuseAfterMark := -1, -1
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if line == "mark" {
			sinceMark, reuseAfterMark = 0, -1
			continue
		}
		parts := strings.Fields(line)
		method, id := parts[0], parts[2]
		gap, _ := strconv.Atoi(parts[1])
		time.Sleep(time.Duration(gap) * time.Millisecond)
		var body io.Reader
		if method == "POST" {
			body = strings.NewReader(`{"n":1}`)
		}
		req, _ := http.NewRequest(method, url, body)
		req.Header.Set("X-Request-Id", id)
		reused := false
		trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
			if info.Reused {
				reused = true
			} else {
				connections++
				if method == "GET" {
					getConnections++
				}
			}
		}}
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
		resp, err := client.Do(req)
		requests++
		if err != nil {
			if method == "POST" {
				postFailures++
			} else {
				getFailures++
			}
			fmt.Fprintf(os.Stderr, "%s %s: %v\n", method, id, err)
		} else {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if sinceMark >= 0 {
			sinceMark++
			if reuseAfterMark < 0 && reused && err == nil {
				reuseAfterMark = sinceMark
			}
		}
	}
	fmt.Printf("requests=%d get_failures=%d post_failures=%d connections=%d get_connections=%d reuse_after_mark=%d\n",
		requests, getFailures, postFailures, connections, getConnections, reuseAfterMark)
}
