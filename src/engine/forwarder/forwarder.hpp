#pragma once
/// A forwarder: the middle host of a proxy chain (client -> proxy -> ... -> server). It listens,
/// checks each connection's hello (token) like a server does, opens a connection to the next hop,
/// passes the hello on unchanged and then relays bytes both ways until both directions are closed.
/// The hello exchange stays end to end (reply and decision pass through), so the token and the
/// flow id travel to the server as the client wrote them, and TLS passes through untouched.
///
///   f = open_forwarder(job, bind, next_hop) -> f->port()   (relaying starts at once)
///   f->start()            -> the CPU window: job.warmup, then job.duration
///   f->wait(deadline)     -> true once the window is over (relaying goes on until stop)
///   f->collect()          -> side_result with `relay` set
///   f->stop()             -> closes everything
///
/// Workers: one epoll thread per worker, each with its own SO_REUSEPORT listener on the same
/// port, so that the kernel spreads connections and no connection changes threads. With an rx
/// rule each listener asks for the connections whose Rx CPU maps to its worker's CPU
/// (SO_INCOMING_CPU on a reuseport listener); a connection that lands elsewhere is counted in
/// relay.rx_mismatch.
#include <memory>

#include "engine/session/session.hpp"

namespace kp::engine {

/// Relays stay in the worker that accepted them; buffers are this big per direction.
inline constexpr std::size_t relay_buffer_size = 64 * 1024;

/// The forwarder as the agent drives it: a session whose establish() is a no-op (it relays from
/// the moment it listens) and whose collect() reports the relay figures.
class forwarder : public session {
  public:
    /// Relayed figures so far (any thread; live counters, not a window).
    [[nodiscard]] virtual relay_stats live() const = 0;
};

/// Listens on `bind` (port 0: any) and relays every admitted connection to `next_hop`.
/// job.kind must be a TCP kind; job.placement is the forwarder's own rule; job.workers its
/// worker count (0: one per allowed CPU).
result<std::unique_ptr<forwarder>> open_forwarder(const job_spec& job, const endpoint& bind,
                                                  const endpoint& next_hop);

} // namespace kp::engine
