// Uses the installed library: a one-rank communicator and an allreduce.
#include <tandem/tandem.h>

#include <cstdio>

int main() {
  int version = 0;
  if (tdmGetVersion(&version) != tdmSuccess || version != TDM_VERSION_CODE) return 1;
  tdmComm_t comm;
  if (tdmCommInitAll(&comm, 1, nullptr) != tdmSuccess) return 2;
  double in[3] = {1.5, -2.0, 4.25}, out[3] = {0, 0, 0};
  if (tdmAllReduce(in, out, 3, tdmFloat64, tdmSum, comm, nullptr) != tdmSuccess) return 3;
  tdmCommDestroy(comm);
  for (int i = 0; i < 3; ++i)
    if (out[i] != in[i]) return 4;
  std::puts("consumer ok");
  return 0;
}
