// Settings tables on phones: each row a block, each cell a line labelled by its data-label; from md up, a
// normal table.
export const stacked = {
  table: "block w-full text-left text-sm md:table",
  head: "hidden text-xs uppercase text-zinc-500 md:table-header-group",
  body: "block md:table-row-group",
  row: "block border-t border-zinc-100 py-2 align-top md:table-row md:py-0",
  cell: "block py-0.5 md:table-cell md:py-2 md:pr-3 before:mr-2 before:text-xs before:font-medium before:uppercase before:text-zinc-500 before:content-[attr(data-label)] md:before:content-none",
};
