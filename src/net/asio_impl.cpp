// The one translation unit that compiles Asio, Asio SSL and Beast (BOOST_*_SEPARATE_COMPILATION is set on every
// target that uses them), so that the rest of the code only parses their declarations.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
