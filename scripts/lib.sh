# SPDX-License-Identifier: GPL-2.0
# Shared by the scripts: cache locations, progress and error output.

# Everything built or installed outside the repo lives here.
PMS_CACHE=${PMS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pagemap_scan}
PMS_VENV=$PMS_CACHE/venv
mkdir -p "$PMS_CACHE"
export PATH="$HOME/.cargo/bin:$PATH"

PMS_T0=${PMS_T0:-$(date +%s)}
export PMS_T0

phase() { printf '[%4ss] %s\n' "$(($(date +%s) - PMS_T0))" "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# ... | progress LABEL EVERY: counts the steps of a kernel build's output on
# stdin ("  CC ...", "  RUSTC ...") and says "LABEL: N build steps done"
# every EVERY steps, so a long build shows it is alive.
progress() {
	local n=0 line
	while IFS= read -r line; do
		case "$line" in "  "[A-Z]*) n=$((n + 1)) ;; *) continue ;; esac
		((n % $2)) || phase "$1: $n build steps done"
	done
}
