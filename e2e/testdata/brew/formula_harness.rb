# formula_harness.rb: runs dist/bg-agent.rb's `install` and `test do` blocks
# on this machine without Homebrew, so e2e/packaging_test.go can check that
# the formula really builds and installs both binaries. It stands in for the
# few parts of Homebrew's Formula DSL that the formula uses, with Homebrew's
# semantics (std_go_args, with_env, Pathname#install/#write, the Cellar's
# bin/ symlinked into the prefix), and nothing else: a formula that calls
# anything more fails here with NoMethodError.
#
#   ruby formula_harness.rb FORMULA SOURCE_DIR CELLAR PREFIX TESTPATH
require "fileutils"
require "open3"
require "pathname"

class Pathname
  # Homebrew's: copy into this directory, creating it.
  def install(*sources)
    mkpath
    sources.flatten.each { |s| FileUtils.cp_r(s.to_s, (self / File.basename(s.to_s)).to_s) }
  end

  # Homebrew's write refuses to overwrite and creates the parent.
  alias_method :plain_write, :write
  def write(content, *args)
    raise "Will not overwrite #{self}" if exist?
    dirname.mkpath
    plain_write(content, *args)
  end

  def append_lines(content)
    File.open(self, "a") { |f| f.puts(content) }
  end
end

module Utils
  def self.safe_popen_read(*args)
    out, status = Open3.capture2(*args.map(&:to_s))
    raise "#{args.join(" ")} failed: #{status}" unless status.success?
    out
  end
end

class Formula
  include FileUtils

  class << self
    %i[desc homepage url version sha256 license].each do |field|
      define_method(field) { |value = nil| value.nil? ? instance_variable_get("@#{field}") : instance_variable_set("@#{field}", value) }
    end
    def depends_on(*); end
    def on_linux = yield
    def on_macos; end
    def test(&block) = (@test_block = block)
    attr_reader :test_block
  end

  attr_reader :prefix, :testpath

  def initialize(prefix, testpath)
    @prefix, @testpath = Pathname(prefix), Pathname(testpath)
  end

  # Homebrew's opt link, HOMEBREW_PREFIX/opt/NAME -> the keg in the Cellar:
  # the path that stays when `brew upgrade` replaces the keg.
  def opt_prefix = prefix.dirname.dirname.dirname / "opt" / name
  def opt_bin = opt_prefix / "bin"

  def name = "bg-agent"
  # Homebrew's: the formula's version, else the one in the URL's file name.
  def version = self.class.version || self.class.url[/-(\d+(?:\.\d+)+)\.tar\.gz\z/, 1]
  def bin = prefix / "bin"
  def libexec = prefix / "libexec"
  def share = prefix / "share"
  def man1 = share / "man/man1"
  def pkgshare = share / name
  def opt_pkgshare = pkgshare

  def system(*args)
    Kernel.system(*args.map(&:to_s)) or raise "failed: #{args.join(" ")}"
  end

  # Homebrew's std_go_args (Library/Homebrew/formula.rb).
  def std_go_args(output: bin / name, ldflags: nil, gcflags: nil, tags: nil)
    args = ["-trimpath", "-o=#{output}"]
    args << "-tags=#{Array(tags).join(" ")}" if tags
    args << "-ldflags=#{Array(ldflags).join(" ")}" if ldflags
    args << "-gcflags=#{Array(gcflags).join(" ")}" if gcflags
    args
  end

  def with_env(hash)
    old = {}
    hash.each do |k, v|
      old[k.to_s] = ENV[k.to_s]
      ENV[k.to_s] = v
    end
    yield
  ensure
    old.each { |k, v| ENV[k] = v }
  end

  def generate_completions_from_executable(exe, *args)
    { "bash" => share / "bash-completion/completions/#{name}",
      "zsh" => share / "zsh/site-functions/_#{name}",
      "fish" => share / "fish/vendor_completions.d/#{name}.fish" }.each do |shell, path|
      path.write Utils.safe_popen_read(exe, *args, shell)
    end
  end

  def shell_output(cmd, result = 0)
    out = `#{cmd}`
    raise "#{cmd}: exit #{$?.exitstatus}, want #{result}\n#{out}" unless $?.exitstatus == result
    out
  end

  def assert_match(want, got)
    ok = want.is_a?(Regexp) ? want.match?(got) : got.include?(want)
    raise "assert_match: #{want.inspect} not in #{got.inspect}" unless ok
  end

  def refute_match(want, got)
    bad = want.is_a?(Regexp) ? want.match?(got) : got.include?(want)
    raise "refute_match: #{want.inspect} in #{got.inspect}" if bad
  end

  def assert_predicate(obj, pred) = (obj.public_send(pred) or raise "assert_predicate: #{obj} is not #{pred}")
  def refute_predicate(obj, pred) = (obj.public_send(pred) and raise "refute_predicate: #{obj} is #{pred}")
end

formula, source, cellar, brew_prefix, testpath = ARGV
load formula
klass = Formula.subclasses.first
f = klass.new(cellar, testpath)
Dir.chdir(source) { f.install }
# `brew link`: the prefix's bin/ holds symlinks into the Cellar, and the opt
# link points at the keg.
FileUtils.mkdir_p(f.opt_prefix.dirname.to_s)
File.symlink(cellar, f.opt_prefix.to_s)
FileUtils.mkdir_p(File.join(brew_prefix, "bin"))
Dir[File.join(cellar, "bin", "*")].each { |e| File.symlink(e, File.join(brew_prefix, "bin", File.basename(e))) }
Dir.chdir(testpath) { f.instance_eval(&klass.test_block) }
puts "formula ok"
