pub mod elf_builder;
