#pragma once
/// What an agent tells the runner about its host in the hello: versions, CPUs, kernel, kTLS,
/// interfaces. Probed once by the agent at start; also the environment manifest of a run.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/wire/encode.hpp"

namespace kp::remote {

/// One network interface of an agent's host.
struct interface_info {
    std::string name;
    std::vector<std::string> addresses; ///< numeric IPv4/IPv6 addresses, no prefix length
    int mtu = 0;
    std::string driver; ///< kernel driver ("virtio_net"); empty for virtual interfaces
    friend bool operator==(const interface_info&, const interface_info&) = default;
};

/// The hello payload of an agent.
struct capabilities {
    int protocol_version = 0;
    std::string build_id;          ///< "0.1.0+<first 16 hex digits of the binary's SHA-256>"
    int pid = 0;                   ///< the agent's process id on its host, for messages and tests
    std::string arch;              ///< uname -m
    std::string kernel;            ///< uname -r
    int cpu_count = 0;             ///< online CPUs
    std::vector<int> allowed_cpus; ///< sched_getaffinity of the agent
    bool ktls = false;
    std::string ktls_reason; ///< why kTLS is unavailable; empty when available
    std::vector<interface_info> interfaces;
    friend bool operator==(const capabilities&, const capabilities&) = default;
};

/// The field lists of the hello reply (engine/wire/encode.hpp): every field is required.
template <class V> void fields(interface_info& x, V&& v) {
    v("name", x.name, engine::wire::required);
    v("addresses", x.addresses, engine::wire::required);
    v("mtu", x.mtu, engine::wire::required);
    v("driver", x.driver, engine::wire::required);
}

template <class V> void fields(capabilities& x, V&& v) {
    using engine::wire::required;
    v("protocol_version", x.protocol_version, required);
    v("build_id", x.build_id, required);
    v("pid", x.pid, required);
    v("arch", x.arch, required);
    v("kernel", x.kernel, required);
    v("cpu_count", x.cpu_count, required);
    v("allowed_cpus", x.allowed_cpus, required);
    v("ktls", x.ktls, required);
    v("ktls_reason", x.ktls_reason, required);
    v("interfaces", x.interfaces, required);
}

/// Probes this host (the agent calls it once at start).
[[nodiscard]] capabilities probe_capabilities();

/// The environment manifest of this host: kernel, CPU model and count, interfaces with MTU and
/// driver, TCP and busy-poll sysctls, RPS/XPS masks, CPU frequency governor, the agent's binary,
/// and the kernel's boot id.
[[nodiscard]] nlohmann::json probe_environment();

/// "0.1.0+<hash>": the version and a prefix of the SHA-256 of /proc/self/exe (cached).
[[nodiscard]] const std::string& build_id();

// nlohmann hooks through the field lists above.
void to_json(nlohmann::json& j, const interface_info& i);
void from_json(const nlohmann::json& j, interface_info& i);
void to_json(nlohmann::json& j, const capabilities& c);
void from_json(const nlohmann::json& j, capabilities& c);

} // namespace kp::remote
