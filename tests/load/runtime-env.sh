# Sourced by soak.sh and messages-wrk.sh. read_runtime_env FILE fills the array runtime_env with the NAME=VALUE lines
# of a build's botservice.env (the deployment's runtime settings, decision 0030); a variable already set in the
# environment keeps its value, as a later Environment= line does under systemd. Empty when FILE is missing.
read_runtime_env() {
  runtime_env=()
  [ -f "$1" ] || return 0
  local name value
  while IFS='=' read -r name value; do
    case "$name" in '' | '#'*) continue ;; esac
    runtime_env+=("$name=${!name:-$value}")
  done <"$1"
}
