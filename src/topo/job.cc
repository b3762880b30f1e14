// The job view: ranks placed on hosts, paths between ranks, transport choice and
// ring order.
#include <algorithm>
#include <limits>
#include <numeric>
#include <tuple>

#include "topo/internal.h"
#include "topo/topology.h"
#include "util/error.h"

namespace tdm::topo {

JobTopology build(std::vector<HostTopology> hosts, std::vector<RankPlacement> ranks) {
  JobTopology job;
  for (size_t h = 0; h < hosts.size(); ++h)
    detail::normalize(hosts[h], "host " + std::to_string(h));
  job.hosts_ = std::move(hosts);
  job.host_ranks_.resize(job.hosts_.size());
  for (size_t r = 0; r < ranks.size(); ++r) {
    RankPlacement& p = ranks[r];
    if (p.host < 0 || p.host >= job.nhosts())
      throw_error(tdmInvalidArgument, "topology: rank ", r, " is on host ", p.host,
                  " but there are ", job.nhosts(), " hosts");
    const HostTopology& h = job.hosts_[static_cast<size_t>(p.host)];
    if (p.gpu < -1 || p.gpu >= static_cast<int>(h.gpus.size()))
      throw_error(tdmInvalidArgument, "topology: rank ", r, " uses GPU ", p.gpu, " but host ",
                  p.host, " (", h.hostname, ") has ", h.gpus.size(), " GPUs");
    if (p.numa >= 0 && h.cpu_by_numa(p.numa) < 0)
      throw_error(tdmInvalidArgument, "topology: rank ", r, " runs on NUMA node ", p.numa,
                  " which host ", p.host, " (", h.hostname, ") does not have");
    // A GPU rank's data lives on its GPU; a CPU rank on one-node hosts is on that node.
    if (p.gpu >= 0)
      p.numa = h.cpus[static_cast<size_t>(h.cpu_of_gpu(p.gpu))].numa_id;
    else if (p.numa < 0 && h.cpus.size() == 1)
      p.numa = h.cpus[0].numa_id;
    job.host_ranks_[static_cast<size_t>(p.host)].push_back(static_cast<int>(r));
  }
  job.ranks_ = std::move(ranks);

  job.rank_nic_.assign(job.ranks_.size(), -1);
  for (int hidx = 0; hidx < job.nhosts(); ++hidx) {
    const HostTopology& h = job.hosts_[static_cast<size_t>(hidx)];
    std::vector<int> gpu_nic(h.gpus.size(), -2);
    std::vector<int> cpu_spread(h.cpus.size(), 0);
    for (int r : job.host_ranks_[static_cast<size_t>(hidx)]) {
      const RankPlacement& p = job.ranks_[static_cast<size_t>(r)];
      if (p.gpu >= 0) {
        int& cached = gpu_nic[static_cast<size_t>(p.gpu)];
        if (cached == -2) cached = nearest_nic(h, p.gpu);
        job.rank_nic_[static_cast<size_t>(r)] = cached;
      } else {
        int cpu = p.numa >= 0 ? h.cpu_by_numa(p.numa) : 0;
        job.rank_nic_[static_cast<size_t>(r)] =
            nearest_nic_to_cpu(h, cpu, cpu_spread[static_cast<size_t>(cpu)]++);
      }
    }
  }
  return job;
}

namespace {

// The endpoint a rank's data sits on; CPU ranks of unknown NUMA node use -1.
Endpoint endpoint_of(const HostTopology& h, const RankPlacement& p) {
  if (p.gpu >= 0) return {Endpoint::Kind::kGpu, p.gpu};
  return {Endpoint::Kind::kCpu, p.numa >= 0 ? h.cpu_by_numa(p.numa) : -1};
}

}  // namespace

PathInfo detail::net_path(const HostTopology& ha, Endpoint a, int nic_a, const HostTopology& hb,
                          Endpoint b, int nic_b) {
  PathInfo p;
  p.cls = PathClass::kNET;
  p.bw_GBps = std::numeric_limits<double>::infinity();
  const std::pair<const HostTopology*, std::pair<Endpoint, int>> sides[] = {{&ha, {a, nic_a}},
                                                                            {&hb, {b, nic_b}}};
  for (const auto& [h, side] : sides) {
    auto [from, n] = side;
    if (n < 0) {
      p.bw_GBps = std::min(p.bw_GBps, kUnknownNetBw);
      p.latency_us += 5.0;  // kernel TCP stack, NIC unknown
      continue;
    }
    // A CPU rank of unknown NUMA node: assume it runs next to its NIC.
    if (from.index < 0) from = {Endpoint::Kind::kCpu, h->cpu_of_nic(n)};
    PathInfo local = host_path(*h, from, {Endpoint::Kind::kNic, n});
    p.bw_GBps = std::min(p.bw_GBps, local.bw_GBps);
    const Nic& x = h->nics[static_cast<size_t>(n)];
    // Verbs NICs cost ~1.5 us per side end to end; sockets pay the kernel stack.
    bool rdma = x.link_layer == "InfiniBand" || x.guid != 0;
    p.latency_us += (rdma ? 1.5 : 5.0) + x.latency_us + local.latency_us / 2;
  }
  return p;
}

PathInfo JobTopology::path(int a, int b) const {
  const RankPlacement& pa = placement(a);
  const RankPlacement& pb = placement(b);
  const bool host_only = pa.gpu < 0 && pb.gpu < 0;
  if (a == b) {
    PathInfo p;
    p.cls = PathClass::kLOC;
    p.bw_GBps = host_only ? detail::kShmBw : detail::kLocalGpuBw;
    p.latency_us = detail::latency_us(p.cls, host_only);
    return p;
  }
  if (pa.host != pb.host) {
    const HostTopology& ha = hosts_[static_cast<size_t>(pa.host)];
    const HostTopology& hb = hosts_[static_cast<size_t>(pb.host)];
    return detail::net_path(ha, endpoint_of(ha, pa), nic(a), hb, endpoint_of(hb, pb), nic(b));
  }
  const HostTopology& h = hosts_[static_cast<size_t>(pa.host)];
  Endpoint ea = endpoint_of(h, pa), eb = endpoint_of(h, pb);
  if (ea.index < 0 || eb.index < 0) {
    // A CPU rank whose NUMA node is unknown on a multi-node host: assume the far side.
    PathInfo p;
    p.cls = PathClass::kSYS;
    p.bw_GBps = detail::kShmBw;
    p.latency_us = detail::latency_us(p.cls, true);
    if (h.cpus.size() >= 2) {
      p.bw_GBps = std::min(p.bw_GBps, detail::cpu_interconnect_bw(h.cpus[0], h.cpus[1]));
    }
    return p;
  }
  return host_path(h, ea, eb);
}

TransportKind choose_transport(const JobTopology& job, int a, int b, PathClass p2p_level) {
  const RankPlacement& pa = job.placement(a);
  const RankPlacement& pb = job.placement(b);
  if (pa.host != pb.host) return TransportKind::kNet;
  if (pa.gpu < 0 || pb.gpu < 0) return TransportKind::kShm;
  const HostTopology& h = job.host(pa.host);
  const auto& refused = h.gpus[static_cast<size_t>(pa.gpu)].no_p2p;
  if (pa.gpu != pb.gpu && std::find(refused.begin(), refused.end(), pb.gpu) != refused.end())
    return TransportKind::kShm;
  return job.path(a, b).cls <= p2p_level ? TransportKind::kP2P : TransportKind::kShm;
}

namespace {

// Ring quality, compared lexicographically: slowest hop first (it bounds the ring's
// bandwidth), then how many hops run at that speed, then total bandwidth.
struct Score {
  double min_bw = 0;
  int at_min = 0;
  double sum_bw = 0;
  bool better_than(const Score& o) const {
    constexpr double kEps = 1e-9;
    if (min_bw > o.min_bw * (1 + kEps)) return true;
    if (min_bw < o.min_bw * (1 - kEps)) return false;
    if (at_min != o.at_min) return at_min < o.at_min;
    return sum_bw > o.sum_bw * (1 + kEps);
  }
};

Score score_cycle(const std::vector<int>& order, const std::vector<std::vector<double>>& bw) {
  Score s;
  s.min_bw = std::numeric_limits<double>::infinity();
  const size_t n = order.size();
  std::vector<double> hops(n);
  for (size_t i = 0; i < n; ++i) {
    hops[i] = bw[static_cast<size_t>(order[i])][static_cast<size_t>(order[(i + 1) % n])];
    s.min_bw = std::min(s.min_bw, hops[i]);
    s.sum_bw += hops[i];
  }
  for (double h : hops)
    if (h <= s.min_bw * (1 + 1e-9)) ++s.at_min;
  return s;
}

// Best cycle over positions 0..n-1 of `bw`, starting at position 0.
std::vector<int> best_cycle(const std::vector<std::vector<double>>& bw,
                            const std::vector<int>& seed) {
  const size_t n = bw.size();
  std::vector<int> best = seed;
  if (n <= 3) return best;
  Score best_score = score_cycle(best, bw);
  if (n <= 9) {
    // Exhaustive: at most 8! orders, each a handful of adds.
    std::vector<int> perm(n);
    std::iota(perm.begin(), perm.end(), 0);
    do {
      Score s = score_cycle(perm, bw);
      if (s.better_than(best_score)) {
        best_score = s;
        best = perm;
      }
    } while (std::next_permutation(perm.begin() + 1, perm.end()));
    return best;
  }
  if (n > 64) return best;  // locality order only: 2-opt would cost O(n^3) per pass
  // 2-opt from the locality order: reverse segments while that improves the score.
  for (bool improved = true; improved;) {
    improved = false;
    for (size_t i = 1; i + 1 < n; ++i) {
      for (size_t j = i + 1; j < n; ++j) {
        std::vector<int> cand = best;
        std::reverse(cand.begin() + static_cast<long>(i), cand.begin() + static_cast<long>(j) + 1);
        Score s = score_cycle(cand, bw);
        if (s.better_than(best_score)) {
          best_score = s;
          best = std::move(cand);
          improved = true;
        }
      }
    }
  }
  return best;
}

}  // namespace

std::vector<int> ring_order(const JobTopology& job) {
  // Hosts in order of their lowest rank.
  std::vector<int> hosts;
  for (int h = 0; h < job.nhosts(); ++h)
    if (!job.ranks_on_host(h).empty()) hosts.push_back(h);
  std::sort(hosts.begin(), hosts.end(),
            [&](int a, int b) { return job.ranks_on_host(a)[0] < job.ranks_on_host(b)[0]; });
  const bool single_host = hosts.size() == 1;

  std::vector<int> out;
  out.reserve(static_cast<size_t>(job.nranks()));
  for (int hidx : hosts) {
    const HostTopology& h = job.host(hidx);
    std::vector<int> ranks = job.ranks_on_host(hidx);
    // Locality order: ranks that share a CPU, a switch, a GPU sit together. It seeds
    // the search and is the answer for hosts too large to search.
    auto key = [&](int r) {
      const RankPlacement& p = job.placement(r);
      std::vector<std::string> chain;
      int cpu = p.numa >= 0 ? h.cpu_by_numa(p.numa) : static_cast<int>(h.cpus.size());
      if (p.gpu >= 0) {
        cpu = h.cpu_of_gpu(p.gpu);
        for (int c : detail::pci_chain(h, h.gpus[static_cast<size_t>(p.gpu)].pci))
          chain.push_back(h.pci[static_cast<size_t>(c)].busid);
      }
      return std::make_tuple(cpu, chain, p.gpu, r);
    };
    std::sort(ranks.begin(), ranks.end(), [&](int a, int b) { return key(a) < key(b); });
    // Put the lowest rank first so the seed and the search share an anchor.
    auto lowest = std::min_element(ranks.begin(), ranks.end());
    std::rotate(ranks.begin(), lowest, ranks.end());

    const size_t n = ranks.size();
    std::vector<std::vector<double>> bw(n, std::vector<double>(n, 0));
    for (size_t i = 0; i < n; ++i)
      for (size_t j = 0; j < n; ++j)
        if (i != j) {
          PathInfo p = job.path(ranks[i], ranks[j]);
          // An NVB hop borrows two NVLink bonds of a GPU the ring also crosses;
          // count it at half so direct links win ties.
          bw[i][j] = p.cls == PathClass::kNVB ? p.bw_GBps / 2 : p.bw_GBps;
        }
    std::vector<int> seed(n);
    std::iota(seed.begin(), seed.end(), 0);
    std::vector<int> cycle = best_cycle(bw, seed);

    if (!single_host && n > 1) {
      // The ring leaves this host between two of its ranks: cut the cycle at its
      // slowest hop (the last such hop, for determinism) and keep the rest as a path.
      size_t cut = 0;
      double slowest = std::numeric_limits<double>::infinity();
      for (size_t i = 0; i < n; ++i) {
        double b = bw[static_cast<size_t>(cycle[i])][static_cast<size_t>(cycle[(i + 1) % n])];
        if (b <= slowest) {
          slowest = b;
          cut = i;
        }
      }
      std::rotate(cycle.begin(), cycle.begin() + static_cast<long>((cut + 1) % n), cycle.end());
      if (ranks[static_cast<size_t>(cycle.back())] < ranks[static_cast<size_t>(cycle.front())])
        std::reverse(cycle.begin(), cycle.end());
    } else if (n > 2) {
      // Single host: a cycle starting at the lowest rank; of its two directions the
      // one whose second rank is lower.
      if (ranks[static_cast<size_t>(cycle[n - 1])] < ranks[static_cast<size_t>(cycle[1])])
        std::reverse(cycle.begin() + 1, cycle.end());
    }
    for (int i : cycle) out.push_back(ranks[static_cast<size_t>(i)]);
  }
  return out;
}

}  // namespace tdm::topo
