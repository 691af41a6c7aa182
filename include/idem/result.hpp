// idem: result<T>, a value or an idem::error, shaped like std::expected.
#ifndef IDEM_RESULT_HPP
#define IDEM_RESULT_HPP

#include "error.hpp"

#include <cstdio>
#include <cstdlib>
#include <new>
#include <type_traits>
#include <utility>

namespace idem {

namespace detail {
[[noreturn]] inline void bad_result_access(const error& e) noexcept {
    std::fprintf(stderr, "idem: value() called on a result holding error %.*s: %s\n",
                 static_cast<int>(to_string(e.code()).size()), to_string(e.code()).data(),
                 detail::describe(e.code()));
    std::abort();
}
} // namespace detail

/// A T or an error. Never throws: value() on an error prints the error and aborts.
template <class T> class [[nodiscard]] result {
    static_assert(!std::is_reference<T>::value, "idem::result<T>: T must not be a reference");

public:
    result(const T& v) : has_(true) { ::new (&val_) T(v); }
    result(T&& v) noexcept(std::is_nothrow_move_constructible<T>::value) : has_(true) {
        ::new (&val_) T(std::move(v));
    }
    result(const idem::error& e) noexcept : has_(false), err_(e) {}
    result(errc e) noexcept : has_(false), err_(e) {}

    result(const result& o) : has_(o.has_), err_(o.err_) {
        if (has_) ::new (&val_) T(o.val_);
    }
    result(result&& o) noexcept(std::is_nothrow_move_constructible<T>::value)
        : has_(o.has_), err_(o.err_) {
        if (has_) ::new (&val_) T(std::move(o.val_));
    }
    result& operator=(result o) noexcept(std::is_nothrow_move_constructible<T>::value) {
        // `o` is a copy, so it can never be *this: no self-assignment to guard against.
        destroy();
        has_ = o.has_;
        err_ = o.err_;
        if (has_) ::new (&val_) T(std::move(o.val_));
        return *this;
    }
    ~result() { destroy(); }

    bool has_value() const noexcept { return has_; }
    explicit operator bool() const noexcept { return has_; }

    T& value() & { check(); return val_; }
    const T& value() const& { check(); return val_; }
    T&& value() && { check(); return std::move(val_); }
    T& operator*() & noexcept { return val_; }
    const T& operator*() const& noexcept { return val_; }
    T* operator->() noexcept { return &val_; }
    const T* operator->() const noexcept { return &val_; }

    /// The error; meaningful only when !has_value().
    const idem::error& error() const noexcept { return err_; }

private:
    void check() const noexcept {
        if (!has_) detail::bad_result_access(err_);
    }
    void destroy() noexcept {
        if (has_) val_.~T();
        has_ = false;
    }

    bool has_;
    union {
        T val_;
    };
    idem::error err_;
};

/// Success or an error.
template <> class [[nodiscard]] result<void> {
public:
    result() noexcept = default;
    result(const idem::error& e) noexcept : has_(false), err_(e) {}
    result(errc e) noexcept : has_(false), err_(e) {}

    bool has_value() const noexcept { return has_; }
    explicit operator bool() const noexcept { return has_; }
    void value() const noexcept {
        if (!has_) detail::bad_result_access(err_);
    }
    const idem::error& error() const noexcept { return err_; }

private:
    bool has_ = true;
    idem::error err_;
};

} // namespace idem

#endif
