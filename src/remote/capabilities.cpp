#include "remote/capabilities.hpp"

#include <ifaddrs.h>
#include <netdb.h>
#include <sched.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <openssl/evp.h>

#include "engine/tls/tls.hpp"
#include "engine/wire/decode.hpp"
#include "remote/protocol.hpp"

namespace kp::remote {

namespace {

namespace fs = std::filesystem;

// First line of a small file (sysfs, procfs), without the newline; empty when unreadable.
std::string read_line(const fs::path& p) {
    std::ifstream in(p);
    std::string line;
    std::getline(in, line);
    return line;
}

std::string sha256_hex_of_file(const char* path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return "unknown";
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
    std::array<char, 1 << 16> buf;
    while (in.read(buf.data(), buf.size()) || in.gcount() > 0)
        EVP_DigestUpdate(ctx, buf.data(), in.gcount());
    std::array<unsigned char, EVP_MAX_MD_SIZE> md;
    unsigned len = 0;
    EVP_DigestFinal_ex(ctx, md.data(), &len);
    EVP_MD_CTX_free(ctx);
    std::string hex;
    for (unsigned i = 0; i < len; ++i)
        hex += fmt::format("{:02x}", md[i]);
    return hex;
}

std::vector<int> allowed_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::vector<int> cpus;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) cpus.push_back(c);
    return cpus;
}

std::vector<interface_info> interfaces() {
    std::map<std::string, interface_info> by_name;
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0) return {};
    for (ifaddrs* a = list; a; a = a->ifa_next) {
        interface_info& info = by_name[a->ifa_name];
        info.name = a->ifa_name;
        if (!a->ifa_addr || (a->ifa_addr->sa_family != AF_INET && a->ifa_addr->sa_family != AF_INET6))
            continue;
        std::array<char, NI_MAXHOST> host{};
        socklen_t len = a->ifa_addr->sa_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
        if (getnameinfo(a->ifa_addr, len, host.data(), host.size(), nullptr, 0, NI_NUMERICHOST) == 0)
            info.addresses.emplace_back(host.data());
    }
    freeifaddrs(list);
    std::vector<interface_info> out;
    for (auto& [name, info] : by_name) {
        fs::path sys = fs::path("/sys/class/net") / name;
        info.mtu = std::atoi(read_line(sys / "mtu").c_str());
        std::error_code ec;
        fs::path driver = fs::read_symlink(sys / "device" / "driver", ec);
        if (!ec) info.driver = driver.filename().string();
        out.push_back(std::move(info));
    }
    return out;
}

std::string cpu_model() {
    std::ifstream in("/proc/cpuinfo");
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with("model name") || line.starts_with("Model")) {
            auto colon = line.find(':');
            if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
        }
    }
    return {};
}

// "0x3" style masks of every rx/tx queue of an interface.
nlohmann::json queue_masks(const fs::path& queues, std::string_view prefix, const char* file) {
    nlohmann::json masks = nlohmann::json::object();
    std::error_code ec;
    for (const auto& q : fs::directory_iterator(queues, ec)) {
        std::string name = q.path().filename().string();
        if (!name.starts_with(prefix)) continue;
        std::string v = read_line(q.path() / file);
        if (!v.empty()) masks[name] = v;
    }
    return masks;
}

} // namespace

const std::string& build_id() {
    static const std::string id =
        fmt::format("{}+{}", KPERF_PLAN_VERSION, sha256_hex_of_file("/proc/self/exe").substr(0, 16));
    return id;
}

capabilities probe_capabilities() {
    capabilities c;
    c.protocol_version = protocol::version;
    c.build_id = build_id();
    c.pid = static_cast<int>(getpid());
    utsname u{};
    if (uname(&u) == 0) {
        c.arch = u.machine;
        c.kernel = u.release;
    }
    c.cpu_count = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
    c.allowed_cpus = allowed_cpus();
    c.ktls = engine::tls::ktls_available();
    if (!c.ktls) c.ktls_reason = engine::tls::ktls_unavailable_reason();
    c.interfaces = interfaces();
    return c;
}

nlohmann::json probe_environment() {
    capabilities c = probe_capabilities();
    nlohmann::json env;
    env["kernel"] = c.kernel;
    env["arch"] = c.arch;
    env["cpu_model"] = cpu_model();
    env["cpu_count"] = c.cpu_count;
    env["allowed_cpus"] = c.allowed_cpus;
    env["ktls"] = c.ktls;
    env["ktls_reason"] = c.ktls_reason;
    std::error_code ec;
    env["executable"] = fs::read_symlink("/proc/self/exe", ec).string(); // where the agent runs from
    std::array<char, 256> host{};
    if (gethostname(host.data(), host.size() - 1) == 0) env["hostname"] = host.data();
    // One value per booted kernel: plan hosts that report the same one share the machine's CPUs.
    env["boot_id"] = read_line("/proc/sys/kernel/random/boot_id");

    nlohmann::json ifs = nlohmann::json::array();
    for (const auto& i : c.interfaces) {
        nlohmann::json j = i;
        fs::path queues = fs::path("/sys/class/net") / i.name / "queues";
        j["rps_cpus"] = queue_masks(queues, "rx-", "rps_cpus");
        j["xps_cpus"] = queue_masks(queues, "tx-", "xps_cpus");
        ifs.push_back(std::move(j));
    }
    env["interfaces"] = std::move(ifs);

    nlohmann::json sysctls = nlohmann::json::object();
    for (const char* key :
         {"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem", "net.ipv4.tcp_congestion_control",
          "net.ipv4.tcp_available_congestion_control", "net.core.rmem_max", "net.core.wmem_max",
          "net.core.busy_poll", "net.core.busy_read", "net.core.default_qdisc", "net.ipv4.tcp_mtu_probing"}) {
        std::string path = "/proc/sys/" + std::string(key);
        std::replace(path.begin() + 10, path.end(), '.', '/');
        std::string v = read_line(path);
        // Tabs separate tcp_rmem's three values; one space reads better in a report.
        std::replace(v.begin(), v.end(), '\t', ' ');
        sysctls[key] = v;
    }
    env["sysctls"] = std::move(sysctls);

    std::set<std::string> governors;
    for (int cpu : c.allowed_cpus) {
        std::string g = read_line(fmt::format("/sys/devices/system/cpu/cpu{}/cpufreq/scaling_governor", cpu));
        if (!g.empty()) governors.insert(g);
    }
    env["governor"] =
        governors.empty() ? std::string("unknown") : fmt::format("{}", fmt::join(governors, ","));
    return env;
}

void to_json(nlohmann::json& j, const interface_info& i) {
    j = engine::wire::encode(i);
}

void from_json(const nlohmann::json& j, interface_info& i) {
    engine::wire::decode_or_throw(j, i);
}

void to_json(nlohmann::json& j, const capabilities& c) {
    j = engine::wire::encode(c);
}

void from_json(const nlohmann::json& j, capabilities& c) {
    engine::wire::decode_or_throw(j, c);
}

} // namespace kp::remote
