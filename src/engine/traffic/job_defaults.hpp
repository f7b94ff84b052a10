#pragma once
/// A valid job for a kind, with the defaults its descriptor row gives (engine/traffic/traffic.hpp).
/// A default-constructed job_spec is a tcp_stream; changing only its `kind` leaves sizes that
/// may not suit the new kind (64 KiB does not fit a UDP datagram), so start from here instead.
#include "engine/core/job.hpp"
#include "engine/traffic/traffic.hpp"

namespace kp::engine {

/// The job of kind `t` with every field at its default; validate_job() accepts it as it is.
[[nodiscard]] inline job_spec default_job(traffic t) {
    job_spec j;
    j.kind = t;
    j.write_size = info(t).default_write_size;
    j.read_size = info(t).default_write_size; // a read as large as a write takes a datagram whole
    return j;
}

} // namespace kp::engine
