export default function InvalidLink() {
  return (
    <div className="mx-auto max-w-md py-16 text-center">
      <h1 className="text-2xl font-semibold">This link is not valid</h1>
      <p className="mt-2 text-zinc-600">
        The recipe link was disabled, replaced by a new one, or never existed. Ask the person who shared it
        for a current link.
      </p>
    </div>
  );
}
