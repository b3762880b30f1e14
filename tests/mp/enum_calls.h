/* See enum_calls.c. */
#ifndef TANDEM_TESTS_MP_ENUM_CALLS_H_
#define TANDEM_TESTS_MP_ENUM_CALLS_H_

#include "tandem/tandem.h"

#ifdef __cplusplus
extern "C" {
#endif

int enum_call_count(void);
const char* enum_call_name(int index);
/* Calls entry `index` with `v` as its enum argument; the other arguments are
 * valid for a one-rank communicator (count elements of float). */
tdmResult_t enum_call(int index, int v, tdmComm_t comm, const float* in, float* out, int count,
                      tdmRedOp_t* op_out);
const char* error_string_of(int result);

#ifdef __cplusplus
}
#endif

#endif /* TANDEM_TESTS_MP_ENUM_CALLS_H_ */
