"""All file I/O of the engine goes through the `FileSystem` interface defined here."""

from .fs import FileLock, FileSystem, OSFileSystem, ReadableFile, WritableFile

__all__ = ["FileLock", "FileSystem", "OSFileSystem", "ReadableFile", "WritableFile"]
