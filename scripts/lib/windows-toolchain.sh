# Sourced by scripts/test-windows and scripts/clippy-windows: installs, when missing, the
# Debian packages that build filemap for x86_64-pc-windows-gnu (a second Rust toolchain
# with the standard library's source, clippy for it, mingw for the Wine shim) and run it
# under Wine.
#
# The rustup toolchain has the Linux target only and cannot add one. Debian's rustc-web and
# cargo-web install a second toolchain as /usr/bin/rustc and /usr/bin/cargo (they do not
# replace the rustup ones earlier on PATH), and rust-web-src has its standard library's
# source, so the scripts build std for Windows with -Zbuild-std (RUSTC_BOOTSTRAP=1) into a
# target directory of their own (target/windows), where neither toolchain rebuilds the
# other's artifacts. The first build of std takes about a minute on two cores.

ensure_windows_toolchain() {
    # `wine` (the /usr/bin/wine, wineboot, wineserver wrappers) is only a
    # Recommends of wine64, so it is named explicitly; nothing else that wine64
    # recommends is needed.
    local packages=(rustc-web cargo-web rust-web-src rust-web-clippy gcc-mingw-w64-x86-64 wine64 wine)
    local missing=()
    for p in "${packages[@]}"; do
        if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
            missing+=("$p")
        fi
    done
    if ((${#missing[@]})); then
        echo "windows toolchain: installing ${missing[*]}" >&2
        local sudo=() apt_log
        if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
        apt_log="$(mktemp)"
        # Another apt run (a second build setting up at once) holds the lock: wait for it.
        local wait_for_lock=(-o DPkg::Lock::Timeout=600)
        if ! { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${wait_for_lock[@]}" update -qq &&
               "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${wait_for_lock[@]}" install -y -qq \
                   --no-install-recommends "${missing[@]}"; } >"$apt_log" 2>&1 </dev/null; then
            cat "$apt_log" >&2
            rm -f "$apt_log"
            echo "windows toolchain: package installation failed" >&2
            exit 1
        fi
        rm -f "$apt_log"
    fi
}
