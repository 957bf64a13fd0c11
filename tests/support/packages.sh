# Debian 12 packages camreg needs, and a function that installs the missing ones.
# Sourced by tests/run-all and the deploy scripts.

CAMREG_BUILD_PACKAGES=(
  g++ cmake make pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libsoci-dev libpq-dev libcli11-dev zlib1g-dev libssl-dev prometheus-cpp-dev
)
CAMREG_TEST_PACKAGES=(
  catch2 postgresql-15 postgresql-client-15 python3-aiohttp python3-aiortc openssl
  chromium fonts-dejavu-core nodejs python3-yaml nginx-light curl prometheus
)
CAMREG_FUZZ_PACKAGES=(
  clang libclang-rt-14-dev
)

# camreg_install_packages PKG...: apt-get installs those not installed yet, as root
# or through sudo. Prints nothing when all are there.
camreg_install_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
  ((${#missing[@]} == 0)) && return 0
  local sudo=()
  if ((EUID != 0)); then
    if ! command -v sudo >/dev/null; then
      echo "camreg: missing Debian packages (${missing[*]}) and no sudo to install them" >&2
      return 1
    fi
    sudo=(sudo)
  fi
  echo "== installing ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}" >/dev/null
}
