# Shared by scripts/demo, scripts/test and bench/run: install what is
# missing, then build. Sourced, not run.

PF_DEBS="apache2 apache2-dev libaprutil1-dbd-pgsql libjansson-dev libssl-dev
libcurl4-openssl-dev libpq-dev postgresql-15 postgresql-client-15 autoconf automake libtool
pkg-config make gcc curl python3 python3-pytest python3-jsonschema python3-cryptography"

pf_install_deps() {
    local missing=() p
    for p in $PF_DEBS; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing Debian packages: ${missing[*]} (run as root, or apt-get install them)" >&2
        return 1
    fi
    echo "installing: ${missing[*]}"
    apt-get update -qq
    # The image may forbid starting services; we start our own servers anyway.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

pf_build() {
    if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
        autoreconf -fi >/dev/null
    fi
    if [ ! -f Makefile ] || [ configure -nt Makefile ]; then
        ./configure -q
    fi
    make -j"$(nproc)" >/dev/null
    make -j"$(nproc)" check >/dev/null   # builds the unit tests
}
