# Sourced by the benchmark scripts (expects $top): record_results NAME copies everything
# the script prints from then on into tests/bench/results/NAME-<date>-<commit>.txt, headed
# by the commit, the date and the machine, so a figure quoted in the README can be traced
# to the code and the host that produced it.
record_results() {
  local name=$1 commit dirty="" stamp file
  shift
  commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
  [[ -n "$(git -C "$top" status --porcelain --untracked-files=no 2>/dev/null)" ]] && dirty="+changes"
  stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
  mkdir -p "$top/tests/bench/results"
  file=$top/tests/bench/results/$name-$stamp-$commit$dirty.txt
  {
    echo "# $name $*"
    echo "commit:  $commit$dirty"
    echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine: $(uname -srm), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)," \
      "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
    echo "preset:  ${CAMREG_PRESET:-ci}"
    # What tests/support/pg-cluster starts PostgreSQL with (huge_pages=on needs them reserved).
    echo "pg:      CAMREG_PG_OPTIONS=${CAMREG_PG_OPTIONS:-(not set)}," \
      "huge pages reserved: $(awk '/^HugePages_Total/ {print $2}' /proc/meminfo)"
    echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min, at the start)"
    echo
  } >"$file"
  exec > >(tee -a "$file")
  echo "(figures also written to ${file#"$top/"})"
}
