// The staging pool host plans borrow from (plan/scratch_pool.h): buffers come
// back when a lease ends and are handed out again, the smallest that fits.
#include "plan/scratch_pool.h"

#include <gtest/gtest.h>

#include <cstring>
#include <utility>

namespace tdm::plan {
namespace {

TEST(ScratchPool, ABufferReturnsWhenItsLeaseEndsAndIsReused) {
  ScratchPool pool;
  std::byte* first = nullptr;
  {
    ScratchPool::Lease lease = pool.take(1 << 20);
    first = lease.data();
    ASSERT_NE(first, nullptr);
    std::memset(first, 0x5a, 1 << 20);  // the whole size is usable
  }
  ScratchPool::Lease again = pool.take(1000);
  EXPECT_EQ(again.data(), first) << "a returned buffer large enough is reused";
  ScratchPool::Lease other = pool.take(1000);
  EXPECT_NE(other.data(), first) << "a buffer on loan is not handed out twice";
}

TEST(ScratchPool, TheSmallestBufferThatFitsIsTaken) {
  ScratchPool pool;
  std::byte *small = nullptr, *large = nullptr;
  {
    ScratchPool::Lease a = pool.take(4096);
    ScratchPool::Lease b = pool.take(1 << 20);
    small = a.data();
    large = b.data();
  }
  EXPECT_EQ(pool.take(100).data(), small);
  EXPECT_EQ(pool.take(5000).data(), large);
}

TEST(ScratchPool, AMovedLeaseGivesItsBufferBackOnce) {
  ScratchPool pool;
  std::byte* data = nullptr;
  {
    ScratchPool::Lease a = pool.take(256);
    data = a.data();
    ScratchPool::Lease b = std::move(a);
    EXPECT_EQ(b.data(), data);
    EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move): moved-from is empty
  }
  ScratchPool::Lease x = pool.take(256);
  ScratchPool::Lease y = pool.take(256);
  EXPECT_EQ(x.data(), data);
  EXPECT_NE(y.data(), data) << "the buffer came back once, not twice";
}

}  // namespace
}  // namespace tdm::plan
