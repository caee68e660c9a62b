# bench/lib/wrk.sh: reading wrk's output, for the benches that drive load with wrk (proxy, scale).

# wrk's output → "requests/s p50_ms p99_ms non2xx socket_errors requests"
parse_wrk() {
  awk '
    function ms(v) {
      if (v ~ /us$/) return v / 1000
      if (v ~ /ms$/) return v + 0
      if (v ~ /m$/) return v * 60000
      if (v ~ /s$/) return v * 1000
      return v + 0
    }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    / requests in / { requests = $1 }
    /Socket errors:/ { gsub(",", ""); errors = $4 + $6 + $8 + $10 }
    /Non-2xx or 3xx responses:/ { non2xx = $5 }
    /^Requests\/sec:/ { rps = $2 }
    END {
      if (rps == "") exit 1
      printf "%s %.3f %.3f %d %d %d\n", rps, p50, p99, non2xx, errors, requests
    }' "$1"
}
