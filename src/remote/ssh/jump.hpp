#pragma once
/// A jump host as the transport of another SSH session: a direct-tcpip channel on the jump's
/// (verified, authenticated) session, pumped by one thread into one end of a socketpair whose
/// other end the next session uses as its socket (SSH_OPTIONS_FD). libssh 0.10's own ProxyJump
/// runs the `ssh` binary instead, whose host-key checks are not ours.
#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include <libssh/libssh.h>

#include "engine/core/error.hpp"

namespace kp::remote {

class ssh_connection;

/// Owns the jump's session, the channel and the pump; the next session must be freed first.
class jump_link {
  public:
    /// Opens a channel from `hop` to host:port; `*peer_fd` receives the socket for the next session.
    static result<std::unique_ptr<jump_link>> open(std::unique_ptr<ssh_connection> hop,
                                                   const std::string& host, std::uint16_t port, int* peer_fd);
    ~jump_link();
    jump_link(const jump_link&) = delete;
    jump_link& operator=(const jump_link&) = delete;

    /// The jump host's session (its own jump, if any, behind it).
    [[nodiscard]] const ssh_connection& hop() const { return *hop_; }

  private:
    jump_link(std::unique_ptr<ssh_connection> hop, ssh_channel ch, int fd);
    void pump();
    std::unique_ptr<ssh_connection> hop_;
    ssh_channel ch_;
    int fd_;
    int wake_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

} // namespace kp::remote
