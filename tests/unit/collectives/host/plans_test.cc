// Host plans (collectives/host/plans.h) run by the executor on ranks that
// are threads with real shared-memory links: every algorithm's results
// against a reference computed in double from the same random inputs, for
// float32 and int32, through rings small enough that every call wraps them.
// Inputs are small integers, so sums, products, max and min are exact in
// either type whatever the order of reduction.
#include "collectives/host/plans.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "collectives/host/executor.h"
#include "plan/team.h"
#include "tests/common/thread_team.h"

namespace tdm::host {
namespace {

using plan::Call;
using plan::CallKind;
using plan::HostAllReduce;
using plan::Team;

void run(const Call& call) {
  std::vector<std::vector<plan::Plan>> queues(1);
  queues[0].push_back(build_collective(call));
  execute(queues);
}

template <typename T>
constexpr tdmDataType_t type_of() {
  return std::is_same_v<T, float> ? tdmFloat32 : tdmInt32;
}

// Rank r's input: `elements` values, the same on every rank that generates it.
template <typename T>
std::vector<T> input(uint64_t seed, int rank, size_t elements, int lo, int hi) {
  std::mt19937_64 rng(seed * 31 + uint64_t(rank) * 1000003 + elements);
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<T> v(elements);
  for (auto& x : v) x = static_cast<T>(dist(rng));
  return v;
}

double combine(tdmRedOp_t op, double a, double b) {
  switch (op) {
    case tdmProd:
      return a * b;
    case tdmMax:
      return std::max(a, b);
    case tdmMin:
      return std::min(a, b);
    default:
      return a + b;
  }
}

template <typename T>
void expect_close(const std::vector<T>& got, const std::vector<double>& want, size_t offset,
                  const std::string& what) {
  for (size_t i = 0; i < want.size(); ++i) {
    const double g = static_cast<double>(got[offset + i]);
    const double tolerance = std::is_integral_v<T> ? 0 : 1e-6 * std::max(1.0, std::fabs(want[i]));
    if (std::fabs(g - want[i]) > tolerance) {
      std::ostringstream text;
      text << what << ": element " << i << " is " << g << ", expected " << want[i];
      throw std::runtime_error(text.str());
    }
  }
}

// Element-wise reduction over ranks of block `block` (of `count`) of every
// rank's input, in double; avg divides at the end (truncating for integers).
template <typename T>
std::vector<double> reference(const std::vector<std::vector<T>>& inputs, size_t block, size_t count,
                              tdmRedOp_t op, double premul = 1) {
  const int n = static_cast<int>(inputs.size());
  std::vector<double> out(count);
  for (size_t i = 0; i < count; ++i) {
    double acc = premul * static_cast<double>(inputs[0][block * count + i]);
    for (int r = 1; r < n; ++r)
      acc = combine(op, acc, premul * static_cast<double>(inputs[size_t(r)][block * count + i]));
    if (op == tdmAvg) acc = std::is_integral_v<T> ? std::trunc(acc / n) : acc / n;
    out[i] = acc;
  }
  return out;
}

template <typename T>
std::string label(const char* what, size_t count, const char* detail = "") {
  return std::string(what) + " " + detail + " count " + std::to_string(count) + " " +
         (std::is_same_v<T, float> ? "float32" : "int32");
}

const char* op_name(tdmRedOp_t op) {
  switch (op) {
    case tdmSum:
      return "sum";
    case tdmProd:
      return "prod";
    case tdmMax:
      return "max";
    case tdmMin:
      return "min";
    case tdmAvg:
      return "avg";
    default:
      return "premulsum";
  }
}

// Every collective of this test, on one team, in the same order on every rank.
template <typename T>
void every_collective(Team& team, uint64_t seed) {
  const int n = team.nranks, me = team.rank;
  for (size_t count : {size_t(1), size_t(13), size_t(3001)}) {
    auto inputs_of = [&](size_t per_rank, int lo, int hi) {
      std::vector<std::vector<T>> all;
      for (int r = 0; r < n; ++r) all.push_back(input<T>(seed, r, per_rank, lo, hi));
      return all;
    };
    Call call;
    call.team = &team;
    call.type = type_of<T>();
    call.count = count;

    // Allreduce: every op under every algorithm (and in place).
    for (tdmRedOp_t op : {tdmSum, tdmProd, tdmMax, tdmMin, tdmAvg}) {
      // Products of up to 4 values of magnitude <= 8 stay exact in float32.
      const auto inputs = op == tdmProd ? inputs_of(count, -3, 3) : inputs_of(count, -1000, 1000);
      const auto want = reference(inputs, 0, count, op);
      for (int algorithm : {-1, 0, 1, 2}) {
        team.allreduce.forced = algorithm;
        const std::string alg = algorithm < 0 ? "auto" : name_of(HostAllReduce(algorithm));
        std::vector<T> send = inputs[size_t(me)], recv(count, T(-7));
        call.kind = CallKind::kAllReduce;
        call.op = op;
        call.send = send.data();
        call.recv = recv.data();
        run(call);
        expect_close(recv, want, 0,
                     label<T>("allreduce", count, (alg + " " + op_name(op)).c_str()));
        if (send != inputs[size_t(me)]) throw std::runtime_error("allreduce wrote its send buffer");
        call.send = send.data();
        call.recv = send.data();  // in place
        run(call);
        expect_close(send, want, 0,
                     label<T>("in-place allreduce", count, (alg + " " + op_name(op)).c_str()));
      }
    }
    team.allreduce.forced = -1;

    // Premulsum: every rank's input times the scalar, summed.
    {
      const auto inputs = inputs_of(count, -1000, 1000);
      const auto want = reference(inputs, 0, count, tdmSum, 3);
      std::vector<T> send = inputs[size_t(me)], recv(count);
      const T scalar = 3;
      call.kind = CallKind::kAllReduce;
      call.op = static_cast<tdmRedOp_t>(tdmNumOps);
      std::memcpy(call.scalar.data(), &scalar, sizeof(T));
      call.send = send.data();
      call.recv = recv.data();
      for (int algorithm : {0, 1, 2}) {
        team.allreduce.forced = algorithm;
        std::fill(recv.begin(), recv.end(), T(-7));
        run(call);
        expect_close(recv, want, 0, label<T>("allreduce", count, "premulsum"));
      }
      team.allreduce.forced = -1;
      call.scalar = {};
    }

    // Allgather: block r of the result is rank r's input.
    {
      const auto inputs = inputs_of(count, -1000, 1000);
      std::vector<T> recv(count * size_t(n), T(-7));
      call.kind = CallKind::kAllGather;
      call.send = inputs[size_t(me)].data();
      call.recv = recv.data();
      run(call);
      for (int r = 0; r < n; ++r)
        expect_close(recv,
                     reference(std::vector<std::vector<T>>{inputs[size_t(r)]}, 0, count, tdmSum),
                     size_t(r) * count, label<T>("allgather", count));
    }

    // Reduce-scatter: rank r gets the reduction of every rank's block r.
    for (tdmRedOp_t op : {tdmSum, tdmMax, tdmAvg}) {
      const auto inputs = inputs_of(count * size_t(n), -1000, 1000);
      std::vector<T> recv(count, T(-7));
      call.kind = CallKind::kReduceScatter;
      call.op = op;
      call.send = inputs[size_t(me)].data();
      call.recv = recv.data();
      run(call);
      expect_close(recv, reference(inputs, size_t(me), count, op), 0,
                   label<T>("reduce-scatter", count, op_name(op)));
    }

    // Broadcast from every root, out of place and in place.
    for (int root = 0; root < n; ++root) {
      const auto inputs = inputs_of(count, -1000, 1000);
      const auto want =
          reference(std::vector<std::vector<T>>{inputs[size_t(root)]}, 0, count, tdmSum);
      std::vector<T> recv(count, T(-7));
      call.kind = CallKind::kBroadcast;
      call.root = root;
      call.send = inputs[size_t(me)].data();
      call.recv = recv.data();
      run(call);
      expect_close(recv, want, 0,
                   label<T>("broadcast", count, ("root " + std::to_string(root)).c_str()));
      std::vector<T> buffer = me == root ? inputs[size_t(me)] : std::vector<T>(count, T(-7));
      call.send = buffer.data();
      call.recv = buffer.data();
      run(call);
      expect_close(buffer, want, 0, label<T>("in-place broadcast", count));
    }

    // Reduce to the last rank: only the root's receive buffer is written.
    {
      const int root = n - 1;
      const auto inputs = inputs_of(count, -1000, 1000);
      std::vector<T> recv(count, T(-7));
      call.kind = CallKind::kReduce;
      call.op = tdmSum;
      call.root = root;
      call.send = inputs[size_t(me)].data();
      call.recv = recv.data();
      run(call);
      if (me == root)
        expect_close(recv, reference(inputs, 0, count, tdmSum), 0, label<T>("reduce", count));
      else if (recv != std::vector<T>(count, T(-7)))
        throw std::runtime_error("reduce wrote a non-root's receive buffer");
    }

    // All-to-all: block r of rank me's result is block me of rank r's input.
    {
      const auto inputs = inputs_of(count * size_t(n), -1000, 1000);
      std::vector<T> recv(count * size_t(n), T(-7));
      call.kind = CallKind::kAlltoAll;
      call.send = inputs[size_t(me)].data();
      call.recv = recv.data();
      run(call);
      for (int r = 0; r < n; ++r)
        expect_close(
            recv,
            reference(std::vector<std::vector<T>>{inputs[size_t(r)]}, size_t(me), count, tdmSum),
            size_t(r) * count, label<T>("alltoall", count));
    }
  }
}

void run_on(const testing::TeamShape& shape) {
  const uint64_t seed = testing::fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed) + ", " + std::to_string(shape.nranks) + " ranks");
  auto errors = testing::with_teams(shape, [&](int, Team& team) {
    every_collective<float>(team, seed);
    every_collective<int32_t>(team, seed + 1);
  });
  testing::expect_no_errors(errors);
}

TEST(HostPlans, OneRank) { run_on({1, 4096, {}, {}}); }

TEST(HostPlans, TwoRanks) { run_on({2, 4096, {}, {}}); }

// A ring that is not in rank order.
TEST(HostPlans, ThreeRanksPermutedRing) { run_on({3, 4096, {}, {0, 2, 1}}); }

// One-shot allreduces through the shared slots (slots.h); small ones in
// back-to-back calls alternate between each rank's two slots.
TEST(HostPlans, TwoRanksThroughSlots) { run_on({2, 4096, {}, {}, 32 << 10}); }
TEST(HostPlans, ThreeRanksThroughSlots) { run_on({3, 4096, {}, {}, 32 << 10}); }

// Two hosts of two ranks: the hierarchical allreduce has something to do.
TEST(HostPlans, FourRanksOnTwoHosts) { run_on({4, 4096, {0, 0, 1, 1}, {0, 1, 3, 2}}); }

// Grouped point-to-point: every rank sends to every rank (itself included)
// and receives from every rank, in one plan.
TEST(HostPlans, PointToPointAmongAllRanks) {
  const uint64_t seed = testing::fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const int n = 3;
  const size_t count = 2501;
  auto errors = testing::with_teams({n, 4096, {}, {}}, [&](int me, Team& team) {
    std::vector<std::vector<float>> out, in(n, std::vector<float>(count, -7.f));
    std::vector<Call> calls;
    for (int peer = 0; peer < n; ++peer)
      out.push_back(input<float>(seed + size_t(peer), me, count, -1000, 1000));
    for (int peer = 0; peer < n; ++peer) {
      Call send;
      send.kind = CallKind::kSend;
      send.team = &team;
      send.type = tdmFloat32;
      send.count = count;
      send.root = peer;
      send.send = out[size_t(peer)].data();
      Call recv = send;
      recv.kind = CallKind::kRecv;
      recv.send = nullptr;
      recv.recv = in[size_t(peer)].data();
      calls.push_back(send);
      calls.push_back(recv);
    }
    std::vector<std::vector<plan::Plan>> queues(1);
    queues[0].push_back(build_point_to_point(team, calls));
    execute(queues);
    for (int peer = 0; peer < n; ++peer)
      if (in[size_t(peer)] != input<float>(seed + size_t(me), peer, count, -1000, 1000))
        throw std::runtime_error("wrong data from rank " + std::to_string(peer));
  });
  testing::expect_no_errors(errors);
}

// An in-place all-to-all queued behind a broadcast into the same buffer, both
// planned before either runs (as in a group): the all-to-all must send what
// the broadcast left there, not what the buffer held when it was planned.
// Sizes on both sides of the copy/pairwise boundary (64 KiB in all), one odd,
// through rings of 4 KiB that the exchanges wrap many times.
TEST(HostPlans, InPlaceAlltoAllSendsWhatEarlierCallsOfItsGroupWrote) {
  const uint64_t seed = testing::fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const int n = 3;
  auto errors = testing::with_teams({n, 4096, {}, {}}, [&](int me, Team& team) {
    for (size_t count : {size_t(1000), size_t(17), size_t(4099), size_t(5461), size_t(5462)}) {
      const auto root_data = input<int32_t>(seed + count, 0, count * size_t(n), -1000, 1000);
      std::vector<int32_t> buffer =
          me == 0 ? root_data : std::vector<int32_t>(count * size_t(n), -7);
      Call bcast;
      bcast.kind = CallKind::kBroadcast;
      bcast.team = &team;
      bcast.type = tdmInt32;
      bcast.count = count * size_t(n);
      bcast.root = 0;
      bcast.send = buffer.data();
      bcast.recv = buffer.data();
      Call alltoall = bcast;
      alltoall.kind = CallKind::kAlltoAll;
      alltoall.count = count;
      std::vector<std::vector<plan::Plan>> queues(1);
      queues[0].push_back(build_collective(bcast));
      queues[0].push_back(build_collective(alltoall));
      execute(queues);
      // Every rank held root_data; block r of the result is block me of rank r's.
      for (int r = 0; r < n; ++r)
        for (size_t i = 0; i < count; ++i)
          if (buffer[size_t(r) * count + i] != root_data[size_t(me) * count + i])
            throw std::runtime_error("count " + std::to_string(count) + ": block " +
                                     std::to_string(r) + " element " + std::to_string(i) +
                                     " is not what the broadcast left");
    }
  });
  testing::expect_no_errors(errors);
}

}  // namespace
}  // namespace tdm::host
