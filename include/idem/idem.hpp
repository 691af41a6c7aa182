// idem: a blocking HTTP/1.1 client that reuses connections safely. The umbrella header.
#ifndef IDEM_IDEM_HPP
#define IDEM_IDEM_HPP

#include "version.hpp"
#include "error.hpp"
#include "result.hpp"
#include "url.hpp"
#include "body.hpp"
#include "request.hpp"
#include "response.hpp"
#include "parser.hpp"
#include "chunked.hpp"
#include "reader.hpp"
#include "keep_alive.hpp"
#include "retry.hpp"
#include "client.hpp"
#include "pool.hpp"

#endif
