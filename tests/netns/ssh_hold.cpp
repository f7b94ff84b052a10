// ssh_hold ADDRESS KEY KNOWN_HOSTS COMMAND: opens an SSH transport running COMMAND, prints
// "ready" and sleeps (at most 60 s), so a test can SIGKILL it mid-session.
// COMMAND "agent:BINARY" deploys BINARY and runs it as the agent instead (open_ssh_agent).
#include <chrono>
#include <cstdio>
#include <thread>

#include "remote/ssh/transport.hpp"

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: ssh_hold ADDRESS KEY KNOWN_HOSTS COMMAND\n");
        return 2;
    }
    kp::remote::ssh_options o;
    o.target = {"root", argv[1], 22};
    o.identity = argv[2];
    o.known_hosts = argv[3];
    auto sink = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
    std::string command = argv[4];
    auto t = command.starts_with("agent:") ? kp::remote::open_ssh_agent(o, command.substr(6), sink)
                                           : kp::remote::open_ssh_command(o, command, sink);
    if (!t) {
        std::fprintf(stderr, "ssh_hold: %s\n", t.error().message.c_str());
        return 3;
    }
    std::printf("ready\n");
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::seconds(60));
    return 0;
}
