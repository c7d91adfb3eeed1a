# shellcheck shell=bash
# A throwaway nginx (Debian's nginx-light) on loopback, for the tests and
# benchmarks that put the real static server or reverse proxy in front of
# something: one place for what every such nginx needs (no daemon, one
# worker, every pid, log and temp path inside its own directory).
#
# start_nginx DIR HTTP_BLOCK
#   Writes DIR/nginx.conf with HTTP_BLOCK inside `http { }` (server blocks,
#   log formats, upstreams), starts nginx and waits until it has written
#   its pid file, which it does once its sockets listen. Sets NGINX_PID.
#   Returns 1, with nginx's own error output on stderr, if it did not start.
#   The caller stops it (kill "$NGINX_PID") with its other processes.
start_nginx() {
  local dir=$1 block=$2
  mkdir -p "$dir"
  cat > "$dir/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1; pid $dir/nginx.pid; error_log $dir/error.log;
events { worker_connections 1024; }
http {
  client_body_temp_path $dir; proxy_temp_path $dir; fastcgi_temp_path $dir; uwsgi_temp_path $dir; scgi_temp_path $dir;
$block
}
CONF
  nginx -p "$dir" -c "$dir/nginx.conf" > "$dir/stdout.log" 2>&1 &
  NGINX_PID=$!
  local _
  for _ in $(seq 50); do
    [[ -s $dir/nginx.pid ]] && return 0
    kill -0 "$NGINX_PID" 2> /dev/null || break
    sleep 0.1
  done
  cat "$dir/error.log" "$dir/stdout.log" >&2 2> /dev/null
  return 1
}
