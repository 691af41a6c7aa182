#!/usr/bin/env python3
"""The mutation gate: breaks each safety rule of the library on purpose and checks that the test
suite notices. A mutation that survives is a rule no test defends.

    tools/mutate.py                 every mutation (each: patch a copy of include/, build the
                                    suites that defend the rule, run them); exit 1 on a survivor
    tools/mutate.py --list          the mutations, one a line
    tools/mutate.py NAME [NAME...]  only those (a prefix is enough)
    tools/mutate.py -jN ...         N mutations at a time (default: cores + 1)

Each mutation names the file, a piece of code that must occur exactly once (else the list is
stale and the gate fails), what to put instead, and the test sources that must catch it. The
doctest main is compiled once; each mutation compiles only its own test sources, against a
patched copy of include/, with -O0. Add a mutation whenever a safety rule is added.
"""
import concurrent.futures
import os
import pathlib
import queue
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
CXX = os.environ.get("CXX", "c++")
FLAGS = ["-std=c++17", "-O0", "-w", "-pthread"]
JOBS = (os.cpu_count() or 1) + 1  # -jN to change
HANG = 60  # seconds: a suite still running then is taken as caught (it hangs)

C = "include/idem/client.hpp"
S = "include/idem/detail/socket.hpp"
R = "include/idem/detail/resolve.hpp"
RD = "include/idem/reader.hpp"
P = "include/idem/parser.hpp"
CH = "include/idem/chunked.hpp"
RT = "include/idem/retry.hpp"
KA = "include/idem/keep_alive.hpp"

CS = "include/idem/detail/connection_state.hpp"
SY = "include/idem/detail/syntax.hpp"
RS = "include/idem/response.hpp"
B = "include/idem/body.hpp"
RQ = "include/idem/request.hpp"

SOCKET_T = ["tests/socket_test.cpp"]
GUAR_T = ["tests/guarantees_test.cpp"]
CLIENT_T = ["tests/client_test.cpp", "tests/guarantees_test.cpp"]
PARSER_T = ["tests/parser_test.cpp", "tests/chunked_test.cpp"]
RETRY_T = ["tests/retry_test.cpp", "tests/client_test.cpp"]
KA_T = ["tests/keep_alive_test.cpp", "tests/client_test.cpp"]
POOL_T = ["tests/pool_test.cpp"]
UPLOAD_T = ["tests/upload_test.cpp"]
UNIX_T = ["tests/unix_socket_test.cpp"]
REDIR_T = ["tests/redirect_test.cpp"]
PROXY_T = ["tests/proxy_test.cpp"]
PX = "include/idem/proxy.hpp"
RR = "include/idem/redirect.hpp"
PL = "include/idem/pool.hpp"
TLS = "include/idem/tls/openssl.hpp"
TN = "include/idem/tls/openssl.hpp"  # the CONNECT tunnel lives there
TLS_T = ["tests/tls_test.cpp"]
# What a test source links besides the C++ library.
LIBS = {"tests/tls_test.cpp": ["-lssl", "-lcrypto"]}

# name, file, original, mutated, tests; or name, file, [(original, mutated), ...], None, tests
MUTATIONS = [
    # Deadlines (README guarantee 3).
    ("read resumes the whole timeout after EINTR", S,
     "wait_for = limit - (now() - start);", "wait_for = limit; (void)start;", SOCKET_T),
    ("write wait restarts after EINTR", S,
     [("const int r = ::poll(&p, 1, to_poll_ms(end - now()));",
       "const int r = ::poll(&p, 1, to_poll_ms(deadline_binds ? left : timeout));"),
      ("if (now() >= end) return timed_out(deadline_binds, phase,",
       "if (r == 0) return timed_out(deadline_binds, phase,")], None, SOCKET_T),
    ("connect race ignores its end", S,
     "            if (t >= d.connect_end)\n", "            if (false)\n", SOCKET_T),
    ("addresses are not raced: the next waits for the connect end", S,
     "next_at = t + d.attempt_delay;", "next_at = d.connect_end;", SOCKET_T),
    ("a failed attempt does not start the next at once", S,
     "            next_at = at;\n", "            (void)at;\n", SOCKET_T),
    ("families are not interleaved", S,
     "const std::size_t at = k < nf ? 2 * k + 1 : n;", "const std::size_t at = n;", SOCKET_T),
    ("the resolver wait ignores the deadline", R,
     "while (!job->done && wr != ETIMEDOUT)", "while (!job->done)", SOCKET_T),
    ("numeric hosts go to the resolver", R,
     "    if (parse_numeric_host(host, out)) return error(errc{});\n", "", SOCKET_T),
    ("timeouts are not saturated", C,
     "detail::later(detail::now(), detail::saturated(o.deadline))",
     "detail::now() + std::chrono::nanoseconds(o.deadline)", GUAR_T),
    ("a backoff may pass the deadline", C,
     "            if (wait >= deadline - detail::now()) return e;\n", "", GUAR_T),
    # A half-read connection (guarantee 4) and the server's word on memory (7).
    ("a connection left mid-response stays open", C,
     "            if (!keep) conn.close();", "            (void)keep;", GUAR_T),
    ("Content-Length is reserved as the server says", RD,
     "framing_.length < reserve_bound ? std::size_t(framing_.length) : reserve_bound", "std::size_t(framing_.length)", GUAR_T),
    # One call at a time (guarantee 5).
    ("overlapping calls are let through", C,
     "owned(!f.exchange(true, std::memory_order_acquire))", "owned((f.store(true), true))", GUAR_T),
    # Early answers (guarantee 6).
    ("an answer behind a reset is not read", C,
     "                if (!cut || up.sent == 0) return se;", "                return se;", GUAR_T),
    ("no watch for an answer while a write waits", S,
     "wait(POLLOUT | POLLIN, timeout, deadline, io_phase::write, got)",
     "wait(POLLOUT, timeout, deadline, io_phase::write, got)", GUAR_T),
    ("an interim response stops the upload", C,
     "            if (re.code() != errc{}) return re;\n            if (done || reader.head_done())\n",
     "            if (re.code() != errc{}) return re;\n            if (done || reader.started())\n", GUAR_T),
    # Request bodies read while they go out (body.hpp) and Expect: 100-continue.
    ("a spent body is sent again after a failure", C,
     "        if (e.body_spent()) return false;\n", "", UPLOAD_T),
    ("a spent body is sent again after a status", C,
     "if (sink.fn || pump_.spent() || attempt", "if (sink.fn || attempt", UPLOAD_T),
    ("the body does not wait for 100 Continue", C,
     "expect ? detail::saturated(opts_.expect_continue_timeout) : std::chrono::nanoseconds{0}",
     "std::chrono::nanoseconds{0}", UPLOAD_T),
    ("a 417 is not sent again without the expectation", C,
     "if (expect && out.status == 417 && !last_body_started_ && !pump_.spent()) {", "if (false) {", UPLOAD_T),
    ("a body of unknown length is not chunked", RQ,
     '        out.append("Transfer-Encoding: chunked\\r\\n", 28);\n', "", UPLOAD_T),
    ("a source shorter than its length is not an error", B,
     'if (!chunked) return error(errc::body_source_failed, "the body\'s source ended before its length");',
     "if (!chunked) { finished_ = true; return error(errc{}); }", UPLOAD_T),
    ("a spent source is not marked spent", B,
     "        read_any_ = true;\n", "", UPLOAD_T),
    ("a stalled pipe holds the call past its deadline", B, "            if (!s.positional_) {\n", "            if (false) {\n", UPLOAD_T),
    # Unix domain sockets (client_options::unix_socket).
    ("the Unix socket option is ignored", C, "        d.unix_socket = opts_.unix_socket;\n", "", UNIX_T),
    ("a Unix path's NUL is not counted", S,
     "if (path.size() + (abstract ? 0 : 1) > sizeof u.sun_path)", "if (path.size() > sizeof u.sun_path)", UNIX_T),
    ("an abstract name keeps its '@'", S, "    if (abstract) u.sun_path[0] = '\\0';\n", "", UNIX_T),
    # Redirects (README "Redirects", RFC 9110 §15.4).
    ("redirects are followed when not asked", C,
     "(r.redirects == idem::follow::as_client && opts_.follow_redirects)", "(r.redirects == idem::follow::as_client)", REDIR_T),
    ("a 303 keeps the method", RR,
     "if (status == 303) return {method == \"HEAD\" ? std::string_view(\"HEAD\") : std::string_view(\"GET\"), false};",
     "if (status == 303) return {method, false};", REDIR_T),
    ("a POST under 301 or 302 stays a POST", RR,
     "if ((status == 301 || status == 302) && method == \"POST\") return {\"GET\", false};", "", REDIR_T),
    ("a body that cannot be produced again is redirected", RR,
     "return !(next_method(out.status, method).keeps_body && has_body && spent);", "return true; (void)spent;", REDIR_T),
    ("credentials go to another origin", RR,
     "return is_credential_field(n) || iequals(n, \"Host\");", "return iequals(n, \"Host\");", REDIR_T),
    ("a dropped body keeps its fields", RR, "            drop_fields(fields_, is_content_field);\n", "", REDIR_T),
    ("the chain is unbounded", RR, "        if (hops > max_redirects)", "        if (false)", REDIR_T),
    ("a loop is not noticed", RR, "            if (k == key) return error(", "            if (false) return error(", REDIR_T),
    ("another origin is asked on this client's connection", C,
     "            if (detail::same_origin(chain.at(), url_)) {", "            if (true) {", REDIR_T),
    ("a followed redirect's body reaches the sink", C,
     "            if (detail::follows(*f.out, f.method, f.has_body, f.pump->spent())) return true;\n", "", REDIR_T),
    ("dot segments stay", RR, "    next.target = remove_dot_segments(merged) + query;", "    next.target = merged + query;", REDIR_T),
    ("a relative Location replaces the whole path", RR,
     "else merged.append(base_path.substr(0, base_path.rfind('/') + 1)).append(path);",
     "else merged.append(\"/\").append(path);", REDIR_T),
    ("a Location of another scheme is taken for a URL", RR,
     "    if (has_scheme && !iequals(std::string_view(loc).substr(0, end), \"http\") &&\n        !iequals(std::string_view(loc).substr(0, end), \"https\"))\n",
     "    if (false)\n", REDIR_T),
    # Proxies (README "Proxies", RFC 9112 §3.2.2).
    ("the target is not absolute through a proxy", RQ, "    out.append(absolute);\n", "", PROXY_T),
    ("the proxy's credentials are not sent", RQ,
     "    if (proxied && !pa)", "    if (false)", PROXY_T),
    ("no_proxy is ignored", C,
     "!o.unix_socket.empty() || no_proxy_matches(o.no_proxy, u.host, u.port)) return;", "!o.unix_socket.empty()) return;", PROXY_T),
    ("no_proxy matches inside a name", PX,
     "(tail.size() == host.size() || host[host.size() - entry.size() - 1] == '.')", "true", PROXY_T),
    ("a no_proxy port is ignored", PX, "if (!parse_port(port_text, p) || p != port) continue;", "(void)p;", PROXY_T),
    ("the uppercase HTTP_PROXY is read", PX,
     "    if (https && e.proxy.empty()) e.proxy = read(\"HTTPS_PROXY\");\n",
     "    if (https && e.proxy.empty()) e.proxy = read(\"HTTPS_PROXY\");\n    if (e.proxy.empty()) e.proxy = read(\"HTTP_PROXY\");\n",
     PROXY_T),
    ("an https client takes http_proxy", PX, 'e.proxy = read(https ? "https_proxy" : "http_proxy");',
     'e.proxy = read("http_proxy");', PROXY_T),
    ("a proxy's control bytes reach the head", PX, "        if (u < 0x20 || u == 0x7f) return false;\n", "", PROXY_T),
    ("a proxy without a port gets 80", PX, "    p.port = has_port ? u->port : 1080;", "    p.port = u->port;", PROXY_T),
    ("the connection goes to the origin, not the proxy", C,
     "        if (route_.proxied) return conn_.open(route_.host, route_.port, d);\n", "", PROXY_T),
    # The client's floor under policies (guarantees 1 and 2).
    ("a policy may re-send a POST that may have run", C,
     "        if (!idempotent && e.may_have_executed() && !detail::resends_non_idempotent<Retry>::value)\n            return false;\n",
     "", GUAR_T),
    ("a policy may re-send after a sink saw bytes", C,
     "        if (sink.fn && e.response_started()) return false;\n", "", GUAR_T),
    ("a policy may repeat an answered POST", C,
     "                    (!idempotent && !detail::resends_non_idempotent<Retry>::value) ||\n", "", GUAR_T),
    # Heads (RFC 9112 §2.2) and interim responses.
    ("a line completed in one piece escapes the line limit", P,
     "long_line_ = line_start_ + max_line + 1; // no overflow", "(void)0; // no overflow", PARSER_T),
    ("the syntax is checked before the head limit", P,
     "if (lim.max_head_bytes < have && lim.max_head_bytes < line_cross)",
     "if (end == 0 && lim.max_head_bytes < have && lim.max_head_bytes < line_cross)", PARSER_T),
    ("a bare CR ends the head", P,
     "if (*p == '\\n' || (*p == '\\r' && p[1] == '\\n')) break;",
     "if (*p == '\\n' || *p == '\\r') break;", PARSER_T),
    ("a bare CR in a trailer line", CH,
     "                else if (c == '\\r') state_ = state::trailer_lf;\n", "", PARSER_T),
    ("1xx responses are skipped without bound", RD,
     "if (++interim_ > lim_->max_interim_responses)", "if (++interim_ == 0)", PARSER_T),
    # The retry table (docs/retry-safety.md), rule by rule.
    ("rule 0: a malformed response is retried", RT,
     "    case errc::malformed_response:\n", "", RETRY_T),
    ("rule 0: a spent deadline is retried", RT,
     "    case errc::deadline_exceeded: return false;", "    case errc::deadline_exceeded: break;", RETRY_T),
    ("rule 1: an unsent request is not retried", RT,
     "if (f.err.bytes_written() == written::none && !f.err.response_started()) return true;",
     "if (f.err.bytes_written() == written::none && !f.err.response_started()) return false;", RETRY_T),
    ("rule 2: a started response is retried", RT,
     "    if (f.err.response_started()) return false;\n", "", RETRY_T),
    ("rule 3: a non-idempotent request is retried", RT,
     "    if (!f.idempotent) return false;\n", "", RETRY_T),
    ("rule 4: the stale race is not retried", RT,
     "    if (is_stale_connection(f)) return true;\n", "    if (is_stale_connection(f)) return false;\n", RETRY_T),
    ("rule 5: a fresh connection's failure ignores the setting", RT,
     "if (connection_failure) return rules.fresh_failures;", "if (connection_failure) return true;", RETRY_T),
    ("rule 6: timeouts ignore the setting", RT,
     "return rules.timeouts;", "return true;", RETRY_T),
    ("a fresh connection counts as stale", RT,
     "return f.err.reused_connection() && !f.err.response_started() &&",
     "return !f.err.response_started() &&", RETRY_T),
    ("a stale connection waits a backoff", RT,
     "        if (is_stale_connection(f)) return {};\n", "", RETRY_T),
    ("the backoff grows linearly", RT,
     "ceiling *= 2;", "ceiling += base_;", RETRY_T),
    ("the attempt budget is ignored", C,
     "            if (attempt >= retry_.max_attempts() || !client_allows_resend(e, idempotent, sink) ||",
     "            if (!client_allows_resend(e, idempotent, sink) ||", CLIENT_T),
    ("a status retry feeds a sink a second body", C,
     "                if (sink.fn || pump_.spent() || attempt >= retry_.max_attempts() ||",
     "                if (pump_.spent() || attempt >= retry_.max_attempts() ||", CLIENT_T),
    # Reuse (RFC 9112 §9.3) and the probe.
    ("the request's own Connection: close is ignored", CS,
     "            if (iequals(h.name, \"Connection\") && list_has_token(h.value, \"close\")) return false;\n", "", CLIENT_T),
    ("a connection whose request was cut short is kept", CS,
     "if (!persistent || !request_all_sent || stray != 0) return false;",
     "if (!persistent || stray != 0) return false;", CLIENT_T),
    ("a connection with bytes after the response is kept", CS,
     "if (!persistent || !request_all_sent || stray != 0) return false;",
     "if (!persistent || !request_all_sent) return false;", CLIENT_T),
    ("a close-delimited body keeps the connection", P,
     "    f.kind = body_kind::until_close;\n    f.must_close = true;\n    return {};",
     "    f.kind = body_kind::until_close;\n    return {};", CLIENT_T + PARSER_T),
    ("a response's Connection: close is ignored", P,
     "        if (list_has_token(v, \"close\")) return false;\n", "", CLIENT_T + PARSER_T),
    ("HTTP/1.0 persists without keep-alive", P,
     "return r.version_minor != 0 || keep_alive;", "return true;", CLIENT_T + PARSER_T),
    ("TE with CL keeps the connection", P,
     "f.must_close = has_cl;", "f.must_close = false;", CLIENT_T + PARSER_T),
    ("max=0 is ignored", KA, "        if (c.server_max == 0) return false;\n", "", KA_T),
    ("a fixed max= is not counted", KA,
     "        if (c.server_max_first > 0 && long(c.exchanges) >= c.server_max_first) return false;\n", "", KA_T),
    ("the idle bound is ignored", KA, "        if (c.idle_for < b) return true;\n",
     "        return true;\n", KA_T),
    ("the server's timeout hint is ignored", KA, "            if (h < ceiling) ceiling = h;\n", "", KA_T),
    ("the non-idempotent bound is ignored", KA,
     "            if (non_idempotent_ < nb) nb = non_idempotent_;\n", "", KA_T),
    ("a learned close does not bind POSTs under a hint", KA,
     "(died_ == none() || died_ >= std::chrono::seconds(c.server_timeout_s))", "true", KA_T),
    ("a POST reuses right up to the age that worked", KA,
     "const auto proven = (worked_ < died_ ? worked_ : died_) - died_ / 16;",
     "const auto proven = (worked_ < died_ ? worked_ : died_);", KA_T),
    ("a POST reuses past the shortest close", KA,
     "const auto proven = (worked_ < died_ ? worked_ : died_) - died_ / 16;",
     "const auto proven = worked_ - died_ / 16;", KA_T),
    ("a POST reuses as late as a GET", KA,
     "auto nb = hint_only ? ceiling : non_idempotent_share(bound_);", "auto nb = ceiling;", KA_T),
    ("no probe before reuse", C,
     "const detail::liveness l = conn_.probe();", "const detail::liveness l = detail::liveness::alive;",
     CLIENT_T),
    ("the probe misses EOF", S, "if (r == 0) return liveness::closed;", "if (r == 0) return liveness::alive;", CLIENT_T),
    ("the probe misses stray bytes", S, "if (r > 0) return liveness::stray_bytes;",
     "if (r > 0) return liveness::alive;", CLIENT_T),
    # Learning.
    ("the probe teaches nothing", C,
     "if (l != detail::liveness::stray_bytes) teach_idle_close(idle_for, attempt);", "", CLIENT_T + KA_T),
    ("stray bytes found by the probe teach", C,
     "if (l != detail::liveness::stray_bytes) teach_idle_close(idle_for, attempt);",
     "teach_idle_close(idle_for, attempt);", CLIENT_T),
    ("a stale failure teaches nothing", C,
     "if (after_write <= state_.idle_close_window()) teach_idle_close(idle_for, attempt);", "",
     CLIENT_T + KA_T),
    ("a reset long after the write teaches", C,
     "if (after_write <= state_.idle_close_window()) teach_idle_close(idle_for, attempt);",
     "teach_idle_close(idle_for, attempt);", CLIENT_T),
    ("a first close is not learned", KA,
     "        } else if (idle_for < died_) {\n            died_ = idle_for;\n        }\n", "        }\n", KA_T),
    ("the learning switch is ignored", KA,
     "        if (!learn_) return;\n        learn_reason why = learn_reason::idle_close;",
     "        learn_reason why = learn_reason::idle_close;", KA_T),
    ("a close at an age that worked teaches at once", KA, "            if (++strikes_ < 2) return;\n", "", KA_T),
    ("a second close at an age that worked never confirms", KA,
     "            if (++strikes_ < 2) return;\n", "            return;\n", KA_T),
    ("a success between two closes is not counted", KA,
     "        strikes_ = 0;\n        if (!learn_) return;\n        learn_reason why = learn_reason::reuse_worked;",
     "        if (!learn_) return;\n        learn_reason why = learn_reason::reuse_worked;", KA_T),
    ("no floor under the learned bound", KA, "        if (b < floor_) b = floor_;\n", "", KA_T),
    ("an age that worked does not hold the bound up", KA, "        if (w > b) b = w;\n", "", KA_T),
    ("a close is never forgotten", KA,
     "            died_ = none();\n            why = learn_reason::forgot_close;",
     "            why = learn_reason::forgot_close;", KA_T),
    ("a success just past the close forgets it", KA,
     "idle_for >= died_ + died_ / 4", "idle_for >= died_", KA_T),
    ("no exploration", KA, "        if (++refused_ <= explore_after_) return false;\n",
     "        return false;\n", KA_T),
    ("every refusal explores", KA, "        if (++refused_ <= explore_after_) return false;\n", "", KA_T),
    ("exploration passes the configured bound and the hint", KA,
     "explore_after_ == 0 || c.idle_for >= ceiling", "explore_after_ == 0", KA_T),
    ("on_reused is never called", C,
     "            detail::notify_reused(ka_, idle_for, detail::has_on_reused<KeepAlive>{});\n", "", CLIENT_T + KA_T),
    ("on_reused remembers nothing", KA, "        if (idle_for > worked_) worked_ = idle_for;\n", "", KA_T),
    ("no learned event", C, "        emit(event_kind::learned, l.bound, attempt);\n", "", CLIENT_T),
    # The pool (docs/pool.md).
    ("the pool ignores max_connections", PL,
     "if (entries_.size() < popts_.max_connections) {", "if (true) {", POOL_T),
    ("the pool hands out its oldest idle connection", PL,
     "            out = idle_.back();\n            idle_.pop_back();",
     "            out = idle_.front();\n            idle_.erase(idle_.begin());", POOL_T),
    ("a released connection skips the waiters", PL,
     "        if (head_ != nullptr) { // straight to the first waiter", "        if (false) {", POOL_T),
    ("waiters are served last come first", PL,
     "        (tail_ ? tail_->next : head_) = &w;\n        tail_ = &w;",
     "        w.next = head_;\n        head_ = &w;\n        if (tail_ == nullptr) tail_ = &w;", POOL_T),
    ("a waiter ignores its deadline", PL,
     "            if (left.count() <= 0) {", "            if (false) {", POOL_T),
    ("max_idle is ignored", PL, "        if (idle_.size() > popts_.max_idle) {", "        if (false) {", POOL_T),
    ("a closed connection does not retire older idle ones", PL,
     "        if (ev.kind == event_kind::probe_closed || ev.kind == event_kind::stale_failure)\n            p->close_idle_as_old_as(ev.idle_for);\n",
     "", POOL_T),
    ("learning is not shared between a pool's connections", PL,
     "            : c(base, o, detail::shared_keep_alive<KeepAlive>(s), r) {}",
     "            : c(base, o, detail::shared_keep_alive<KeepAlive>(new detail::shared_learning<KeepAlive>(s->ka)), r) {}",
     POOL_T),
    ("a pool's counters miss what its connections did", PL,
     "        add(totals_.stale_probes, now_stats.stale_probes, e->reported.stale_probes);\n", "", POOL_T),
    # Events and counters (what fetch -v and users' logs rely on).
    ("no reused event", C, "        emit(event_kind::reused, idle_for, attempt);\n", "", CLIENT_T),
    ("no probe_closed event", C, "            emit(event_kind::probe_closed, idle_for, attempt);\n", "", CLIENT_T),
    ("no stale_failure event", C,
     "            emit(event_kind::stale_failure, idle_for, attempt, e.code());\n", "", CLIENT_T),
    ("no retry event after a failure", C, "            emit(event_kind::retry, {}, attempt, e.code());\n", "", CLIENT_T),
    ("retries are not counted", C,
     "            ++stats_.retries;\n            emit(event_kind::retry, {}, attempt, e.code());",
     "            emit(event_kind::retry, {}, attempt, e.code());", CLIENT_T),
    # A reused response keeps its buffers (the zero-allocation hot path).
    ("header views are not made anew when their storage grows", RQ,
     "            if (store_.data() != before) relink();", "            (void)before;", ["tests/request_test.cpp"]),
    ("a reused response drops its body buffer", RS, "        body.clear();", "        std::string().swap(body);", CLIENT_T),
    ("a reused response drops its head buffer", RS, "        head_.clear();", "        std::string().swap(head_);", CLIENT_T),
    # Framing (RFC 9112 §6.3, §7.1).
    ("no CRLF needed after chunk data", CH,
     "                else return parse_failure(errc::malformed_response, \"no CRLF after chunk data: the chunk sizes lie\");\n                ++i;",
     "                else {\n                    state_ = state::size_start; // as if the CRLF were there\n                    break;\n                }\n                ++i;", PARSER_T),
    ("the trailer is unbounded", CH, "        if (trailer_left_ == 0) return false;\n", "", PARSER_T),
    ("a chunk size may overflow", CH, "if (remaining_ > (UINT64_MAX >> 4))", "if (false)", PARSER_T),
    ("Content-Length has no digit limit", SY,
     "if (s.empty() || s.size() > max_digits) return false;", "if (s.empty()) return false;", PARSER_T),
    ("a body cut short at EOF is complete", RD,
     "if (!head_done_ || !decoder_.complete_at_eof()) return errc::unexpected_eof;",
     "if (!head_done_) return errc::unexpected_eof;", PARSER_T),
    ("a HEAD response has a body", P,
     "if (method == \"HEAD\" || is_interim(r.status)", "if (is_interim(r.status)", PARSER_T),
    # 64-bit lengths on every word size (#16): what a 32-bit size_t would do to a length, simulated
    # on any target with a 32-bit field, so that the rule is defended where CI runs the gate.
    ("a Content-Length is kept in 32 bits", P,
     "std::uint64_t length = 0; ///< for body_kind::length", "std::uint32_t length = 0; ///< for body_kind::length", PARSER_T),
    ("a chunk size is counted down in 32 bits", CH,
     "std::uint64_t remaining_ = 0;", "std::uint32_t remaining_ = 0;", PARSER_T),
    ("a buffered body is unbounded", RD, "if (k > max - out.body.size()) return false;", "if (false) return false;",
     PARSER_T + CLIENT_T),
    # TLS (idem/tls/openssl.hpp): the server is proved, the probe reads records right, and an
    # EOF is a clean end only with close_notify.
    ("the certificate is not verified", TLS,
     "SSL_CTX_set_verify(c.get(), SSL_VERIFY_PEER, nullptr);", "SSL_CTX_set_verify(c.get(), SSL_VERIFY_NONE, nullptr);", TLS_T),
    ("the host is not checked against the certificate", TLS,
     ": X509_VERIFY_PARAM_set1_host(vp, host.c_str(), host.size());", ": 1;", TLS_T),
    ("an EOF without close_notify ends a body cleanly", C,
     "if (reader.started() && !eof_is_clean(conn, has_clean_eof<Transport>{}))", "if (false)", TLS_T),
    ("the TLS transport calls a bare EOF clean", TLS,
     "                clean_eof_ = false;\n                return error(errc{});", "                return error(errc{});", TLS_T),
    ("a close_notify on an idle connection reads as idle", TLS,
     "        if (why == SSL_ERROR_WANT_READ || why == SSL_ERROR_WANT_WRITE) return idem::detail::liveness::alive;\n        usable_ = false;\n        if (why == SSL_ERROR_ZERO_RETURN) {",
     "        if (why == SSL_ERROR_WANT_READ || why == SSL_ERROR_WANT_WRITE || why == SSL_ERROR_ZERO_RETURN) return idem::detail::liveness::alive;\n        usable_ = false;\n        if (why == SSL_ERROR_ZERO_RETURN) {", TLS_T),
    ("a session ticket on an idle connection reads as closed", TLS,
     "if (why == SSL_ERROR_WANT_READ || why == SSL_ERROR_WANT_WRITE) return idem::detail::liveness::alive;",
     "if (why == SSL_ERROR_WANT_WRITE) return idem::detail::liveness::alive;", TLS_T),
    ("a close_notify that came with the answer is not seen", C,
     "            !detail::is_closing(conn_, detail::has_closing<Transport>{})) {", "            true) {", TLS_T),
    ("a connection that skipped verification is described as verified", TLS,
     "o.insecure_skip_verify ? \"certificate not verified (insecure_skip_verify)\"", "false ? \"certificate not verified (insecure_skip_verify)\"", TLS_T),
    ("a session is offered to another name of the server", TLS,
     "std::to_string(reinterpret_cast<std::uintptr_t>(ctx_.get())) + '\\0' + host + '\\0' +",
     "std::to_string(reinterpret_cast<std::uintptr_t>(ctx_.get())) + '\\0' +", TLS_T),
    ("a session is offered under other trust settings", TLS,
     "session_key_ = std::to_string(reinterpret_cast<std::uintptr_t>(ctx_.get())) + '\\0' + host",
     "session_key_ = std::string(\"ctx\") + '\\0' + host", TLS_T),
    # Either check alone keeps sessions off (no callback, or no key for it): drop both.
    ("resume_sessions = false still resumes", TLS,
     [("        if (o.resume_sessions) {\n            // A context is never freed", "        if (true) {\n            // A context is never freed"),
      ("    if (o.resume_sessions) {\n        // Sessions go to", "    if (true) {\n        // Sessions go to")],
     None, TLS_T),
    ("a resumed TLS 1.2 session is not kept", TLS,
     "if (again != nullptr) detail::session_store::get().put(session_key_, again);",
     "if (again != nullptr) SSL_SESSION_free(again);", TLS_T),
    ("a signal restarts a TLS wait in full", TLS,
     [("const auto end = start + (binds ? left : timeout);", "auto end = start + (binds ? left : timeout);"),
      ("const int r = ::poll(&pf, 1, idem::detail::to_poll_ms(end - idem::detail::now()));",
       "const int r = ::poll(&pf, 1, idem::detail::to_poll_ms(binds ? left : timeout));\n            end = idem::detail::now() + (binds ? left : timeout);")],
     None, TLS_T),
    # A name that does not exist is final (README "Errors", docs/retry-safety.md rule 0).
    ("a name that does not exist is asked again", RT, "        if (f.err.name_not_found()) return false;\n", "",
     RETRY_T + SOCKET_T),
    ("getaddrinfo's EAI_NONAME reads as a resolver that could not answer", R,
     "        return error(errc::resolve_failed, ::gai_strerror(rc)).set_name_not_found(true);",
     "        return error(errc::resolve_failed, ::gai_strerror(rc));", ["tests/error_test.cpp"]),
    # https through a proxy: a CONNECT tunnel (RFC 9110 §9.3.6, README "Proxies").
    ("the proxy's credentials go inside the tunnel too", C,
     "        r.tunnel = tunnel_head(u, p->authorization, o.user_agent);\n        return;",
     "        r.tunnel = tunnel_head(u, p->authorization, o.user_agent);\n        r.authorization = p->authorization;\n        return;",
     TLS_T),
    ("a CONNECT target has no port", C, '    hostport.append(":").append(std::to_string(u.port));\n', "", TLS_T),
    ("https through a proxy makes no tunnel", TLS, "        if (!d.tunnel.empty()) {", "        if (false) {", TLS_T),
    ("a proxy's refusal opens the tunnel", TN, "if (head.status < 200 || head.status > 299)", "if (false)", TLS_T),
    ("bytes after a tunnel's answer are let through", TN, "            if (!buf.empty())\n", "            if (false)\n", TLS_T),
    ("the proxy's answer is awaited without end", TN,
     "c.receive(chunk, sizeof chunk, d.connect_end - t, d.connect_end, got)",
     "c.receive(chunk, sizeof chunk, std::chrono::hours(1), now() + std::chrono::hours(1), got)", TLS_T),
    ("the proxy's answer is bounded only as a response is", TN, "    lim.max_head_bytes = 16 * 1024;\n", "", TLS_T),
    ("https origins go through the http proxy", C,
     "const std::string& proxy = o.proxy_per_scheme && u.tls ? o.https_proxy : o.proxy;",
     "const std::string& proxy = o.proxy;", TLS_T + PROXY_T),
    ("a proxy's refusal is retried", RT, "    case errc::proxy_refused:\n", "", RETRY_T + TLS_T),
    ("a transport without tunnels is sent to a proxy for https", C,
     "    if (u.tls && !tunnel_capable) {", "    if (false) {", TLS_T),
    ("a signal restarts a TLS read's wait in full", TLS,
     "            if (why == SSL_ERROR_WANT_READ) { // out of time, a signal, or a ticket or KeyUpdate read\n                io_.wait_for = end - idem::detail::now();",
     "            if (why == SSL_ERROR_WANT_READ) { // out of time, a signal, or a ticket or KeyUpdate read\n                io_.wait_for = limit;",
     TLS_T),
    ("a TLS read never times out", TLS,
     "                if (io_.timed_out || io_.wait_for.count() <= 0)\n",
     "                if (false)\n", TLS_T),
    ("EOF on a reused connection is not the idle race", C,
     "if (!reader.started() && reused) return error(errc::server_closed_idle", "if (false) return error(errc::server_closed_idle", CLIENT_T),
]


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def try_one(work, pristine, main_o, mutation):
    """Applies one mutation to a fresh copy of include/ under `work`, builds its suites, runs
    them. Returns (verdict, line): verdict is "killed", "survived" or "stale"."""
    name, rel, old, new, tests = mutation
    tests = list(dict.fromkeys(tests))  # each file once, in order
    tree = work / "include"
    if tree.exists():
        shutil.rmtree(tree)
    shutil.copytree(pristine / "include", tree)
    path = work / rel
    text = path.read_text()
    edits = old if isinstance(old, list) else [(old, new)]
    bad = [o for o, _ in edits if text.count(o) != 1]
    if bad:
        return "stale", f"STALE     {name}: {bad[0]!r} does not occur exactly once in {rel}"
    for o, n in edits:
        text = text.replace(o, n)
    path.write_text(text)
    exe = work / "t"
    t0 = time.time()
    libs = [lib for t in tests for lib in LIBS.get(t, [])]
    r = sh([CXX, *FLAGS, "-I", str(tree), "-I", str(pristine / "tests"), str(main_o),
            *[str(pristine / t) for t in tests], "-o", str(exe), *libs])
    if r.returncode:
        # A mutation that does not compile proves nothing about the tests.
        return "stale", f"STALE     {name}: does not compile\n{r.stderr[:1500]}"
    try:
        # The first failing check is enough: stop there (doctest's --abort-after).
        run = sh([str(exe), "--abort-after=1"], timeout=HANG, cwd=str(ROOT))
        caught = run.returncode != 0
    except subprocess.TimeoutExpired:
        caught = True  # a hang is a failure the suite shows (by its timeout)
    took = time.time() - t0
    if caught:
        return "killed", f"killed    {name} ({took:.0f} s)"
    return "survived", f"SURVIVED  {name} ({took:.0f} s): no test in {', '.join(tests)} failed"


def main(argv):
    if "--list" in argv:
        for m in MUTATIONS:
            print(m[0])
        return 0
    jobs = JOBS
    for a in argv:
        if a.startswith("-j"):
            jobs = max(1, int(a[2:]))
    names = [a for a in argv if not a.startswith("-")]
    chosen = [m for m in MUTATIONS if not names or any(m[0].startswith(n) for n in names)]
    if not chosen:
        print("no mutation matches", names)
        return 2
    work = pathlib.Path(tempfile.mkdtemp(prefix="idem-mutate-"))
    try:
        main_o = work / "main.o"
        r = sh([CXX, *FLAGS, "-c", str(ROOT / "tests/main.cpp"), "-o", str(main_o)])
        if r.returncode:
            print(r.stderr)
            return 2
        # One snapshot of the sources and tests, so edits made while the gate runs change nothing.
        pristine = work / "pristine"
        shutil.copytree(ROOT / "include", pristine / "include")
        shutil.copytree(ROOT / "tests", pristine / "tests")
        # Workers run mutations side by side, each in its own directory. Most of a suite's time
        # is spent waiting on sockets and timeouts, not computing, so more workers than cores pay.
        slots = queue.Queue()
        for k in range(jobs):
            (work / f"w{k}").mkdir()
            slots.put(work / f"w{k}")

        def run(m):
            slot = slots.get()
            try:
                return try_one(slot, pristine, main_o, m)
            finally:
                slots.put(slot)

        counts = {"killed": 0, "survived": 0, "stale": 0}
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            for verdict, line in pool.map(run, chosen):  # printed in list order
                counts[verdict] += 1
                print(line)
                sys.stdout.flush()
        killed, survived, stale = counts["killed"], counts["survived"], counts["stale"]
        print(f"mutations: {killed} killed, {survived} survived, {stale} stale")
        print(f"{killed} passed, {survived + stale} failed")
        return 0 if survived == 0 and stale == 0 else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
