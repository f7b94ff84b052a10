#include "runner/report/files.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <filesystem>
#include <system_error>

#include <fmt/format.h>

namespace kp::runner {
namespace {

std::string strftime_utc(std::chrono::system_clock::time_point t, const char* format) {
    std::time_t secs = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];
    std::size_t n = std::strftime(buf, sizeof buf, format, &tm);
    return std::string(buf, n);
}

result<void> write_fully(int fd, const std::string& text, const std::string& path) {
    std::size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(errno_error("writing " + path));
        done += static_cast<std::size_t>(n);
    }
    return {};
}

void sync_directory_of(const std::string& path) {
    auto dir = std::filesystem::path(path).parent_path();
    int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return; // best effort: the data itself is already synced
    ::fsync(fd);
    ::close(fd);
}

} // namespace

std::string utc_iso8601(std::chrono::system_clock::time_point t) {
    return strftime_utc(t, "%Y-%m-%dT%H:%M:%SZ");
}

result<std::string> make_output_dir(const std::string& plan_name, const std::string& explicit_dir,
                                    std::chrono::system_clock::time_point now) {
    auto failed = [](const std::filesystem::path& dir, const std::error_code& ec) {
        return fail(fmt::format("creating output directory {}: {}", dir.string(), ec.message()));
    };
    std::error_code ec;
    if (!explicit_dir.empty()) {
        std::filesystem::create_directories(explicit_dir, ec);
        if (ec) return failed(explicit_dir, ec);
        return explicit_dir;
    }
    // Two runs of one plan within a second must not share a directory (the later one would
    // truncate the earlier one's results.jsonl): claim a new one, "-2", "-3"... when it is taken.
    auto base = std::filesystem::path("results") / plan_name / strftime_utc(now, "%Y%m%dT%H%M%SZ");
    std::filesystem::create_directories(base.parent_path(), ec);
    if (ec) return failed(base.parent_path(), ec);
    for (int n = 1; n <= 100; ++n) {
        std::filesystem::path dir =
            n == 1 ? base : std::filesystem::path(fmt::format("{}-{}", base.string(), n));
        if (std::filesystem::create_directory(dir, ec)) return dir.string();
        if (ec) return failed(dir, ec);
    }
    return fail(fmt::format("creating output directory {}: {}-2 .. {}-100 exist too", base.string(),
                            base.string(), base.string()));
}

result<output_dir_claim> output_dir_claim::take(const std::string& dir) {
    const std::string path = dir + "/.kperf-plan.lock";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) return fail(errno_error("claiming output directory " + dir + ": creating " + path));
    output_dir_claim claim(fd, path);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK)
            return fail(errno_error("claiming output directory " + dir + ": locking " + path));
        // The holder writes its pid right after locking; an empty file names no pid.
        char buf[32] = {};
        const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
        std::string pid = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
        while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' '))
            pid.pop_back();
        return fail(fmt::format("output directory {} is in use by another run{}; choose another -o", dir,
                                pid.empty() ? std::string() : fmt::format(" (pid {})", pid)));
    }
    std::error_code ec;
    if (std::filesystem::exists(dir + "/results.jsonl", ec))
        return fail(fmt::format("output directory {} already holds the results.jsonl of an earlier run; "
                                "choose another -o (or remove that run's files)",
                                dir));
    const std::string pid = fmt::format("{}\n", ::getpid());
    if (::ftruncate(fd, 0) != 0)
        return fail(errno_error("claiming output directory " + dir + ": writing " + path));
    if (auto w = write_fully(fd, pid, path); !w) return std::unexpected(w.error());
    return claim;
}

output_dir_claim::~output_dir_claim() {
    if (fd_ >= 0) ::close(fd_);
}

void output_dir_claim::remove() {
    if (fd_ < 0) return;
    ::unlink(path_.c_str());
    ::close(fd_);
    fd_ = -1;
}

result<void> write_file_atomic(const std::string& path, const std::string& text) {
    std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return fail(errno_error("creating " + tmp));
    auto written = write_fully(fd, text, tmp);
    if (written && ::fsync(fd) != 0) written = fail(errno_error("syncing " + tmp));
    ::close(fd);
    // A write that failed (a full disk) leaves the previous file as it was and no .tmp behind.
    if (!written) {
        ::unlink(tmp.c_str());
        return written;
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        auto e = fail(errno_error("renaming " + tmp + " to " + path));
        ::unlink(tmp.c_str());
        return e;
    }
    sync_directory_of(path);
    return {};
}

jsonl_writer::~jsonl_writer() {
    if (fd_ >= 0) ::close(fd_);
}

result<void> jsonl_writer::open(const std::string& path) {
    if (fd_ >= 0) ::close(fd_);
    path_ = path;
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) return fail(errno_error("creating " + path));
    sync_directory_of(path);
    return {};
}

result<void> jsonl_writer::append(const nlohmann::json& value) {
    if (fd_ < 0) return fail("results.jsonl is not open");
    // One write per line: with O_APPEND a kill leaves whole lines, at worst a torn last one.
    std::string line = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    const off_t before = ::lseek(fd_, 0, SEEK_END);
    if (auto w = write_fully(fd_, line, path_); !w) {
        // A part of the line got out (a full disk): cut it off, so the file stays whole lines.
        if (before >= 0 && ::ftruncate(fd_, before) == 0) ::fdatasync(fd_);
        return w;
    }
    if (::fdatasync(fd_) != 0) return fail(errno_error("syncing " + path_));
    return {};
}

} // namespace kp::runner
