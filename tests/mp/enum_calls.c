/* The public calls that take an enum, called from C: there an enum parameter
 * takes any int, so these are the values the library must refuse without
 * undefined behaviour (C++ callers cannot pass them without it). */
#include "enum_calls.h"

#include "tandem/shmem.h"

static const char* const kNames[] = {
    "tdmAllReduce datatype",     "tdmAllReduce op",           "tdmBroadcast datatype",
    "tdmBcast datatype",         "tdmReduce datatype",        "tdmReduce op",
    "tdmAllGather datatype",     "tdmReduceScatter datatype", "tdmReduceScatter op",
    "tdmAlltoAll datatype",      "tdmGather datatype",        "tdmScatter datatype",
    "tdmSend datatype",          "tdmRecv datatype",          "tdmRedOpCreatePreMulSum datatype",
    "tdmRedOpCreatePreMulSum residence", "tdmRedOpDestroy op", "tdmShmemSignalOnStream op",
    "tdmShmemWaitUntilOnStream cmp",
};

int enum_call_count(void) { return (int)(sizeof kNames / sizeof kNames[0]); }

const char* enum_call_name(int index) { return kNames[index]; }

tdmResult_t enum_call(int index, int v, tdmComm_t comm, const float* in, float* out, int count,
                      tdmRedOp_t* op_out) {
  static float scalar = 2.0f;
  static uint64_t signal = 0;
  const size_t n = (size_t)count;
  switch (index) {
    case 0: return tdmAllReduce(in, out, n, v, tdmSum, comm, NULL);
    case 1: return tdmAllReduce(in, out, n, tdmFloat32, v, comm, NULL);
    case 2: return tdmBroadcast(in, out, n, v, 0, comm, NULL);
    case 3: return tdmBcast(out, n, v, 0, comm, NULL);
    case 4: return tdmReduce(in, out, n, v, tdmSum, 0, comm, NULL);
    case 5: return tdmReduce(in, out, n, tdmFloat32, v, 0, comm, NULL);
    case 6: return tdmAllGather(in, out, n, v, comm, NULL);
    case 7: return tdmReduceScatter(in, out, n, v, tdmSum, comm, NULL);
    case 8: return tdmReduceScatter(in, out, n, tdmFloat32, v, comm, NULL);
    case 9: return tdmAlltoAll(in, out, n, v, comm, NULL);
    case 10: return tdmGather(in, out, n, v, 0, comm, NULL);
    case 11: return tdmScatter(in, out, n, v, 0, comm, NULL);
    case 12: return tdmSend(in, n, v, 0, comm, NULL);
    case 13: return tdmRecv(out, n, v, 0, comm, NULL);
    case 14: return tdmRedOpCreatePreMulSum(op_out, &scalar, v, tdmScalarHostImmediate, comm);
    case 15: return tdmRedOpCreatePreMulSum(op_out, &scalar, tdmFloat32, v, comm);
    case 16: return tdmRedOpDestroy(v, comm);
    case 17: return tdmShmemSignalOnStream(comm, &signal, 1, v, 0, NULL);
    case 18: return tdmShmemWaitUntilOnStream(comm, &signal, v, 1, NULL);
    default: return tdmInternalError;
  }
}

const char* error_string_of(int result) { return tdmGetErrorString(result); }
