# bench/lib/network.sh: putting right what a berthd that died mid-bench leaves of its containers'
# networks.

# What berthd's CNI DEL releases, when it could not: the netns and the bridge plugin's NAT rules.
bench_release_network() { # container id
  local id=$1 ns num chain chains
  for ns in /run/netns/berth-"$id"-r*; do
    [[ -e $ns ]] && { ip netns delete "${ns##*/}" 2>/dev/null || true; }
  done
  command -v iptables >/dev/null || return 0
  chains=$(iptables -w -t nat -S 2>/dev/null | awk -v id="\"$id-r" '$1 == "-A" && $2 ~ /^CNI-/ && index($0, id) { print $2 }' | sort -u)
  for num in $(iptables -w -t nat -L POSTROUTING -n --line-numbers 2>/dev/null | awk -v id="\"$id-r" 'index($0, id) { print $1 }' | sort -rn); do
    iptables -w -t nat -D POSTROUTING "$num" 2>/dev/null || true
  done
  for chain in $chains; do
    iptables -w -t nat -F "$chain" 2>/dev/null && iptables -w -t nat -X "$chain" 2>/dev/null || true
  done
  return 0
}
