// idem::pool on one thread: what the lock, the lease and the shared policy cost over
// basic_client's hot path. The loop is bench/client_idem.cpp's.
#define IDEM_BENCH_POOL
#include "client_idem.cpp"
