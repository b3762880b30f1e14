// TDM_TEST_HD marks the harness's small pure functions __host__ __device__
// when nvcc compiles them, so GPU tests and tools can call them in kernels.
#ifndef TANDEM_TESTS_COMMON_HOST_DEVICE_H_
#define TANDEM_TESTS_COMMON_HOST_DEVICE_H_

#ifdef __CUDACC__
#define TDM_TEST_HD __host__ __device__
#else
#define TDM_TEST_HD
#endif

#endif  // TANDEM_TESTS_COMMON_HOST_DEVICE_H_
