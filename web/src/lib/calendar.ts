/** The weeks of a month (Monday first) as rows of YYYY-MM-DD or null for the blanks. */
export function monthGrid(month: string): (string | null)[][] {
	const [y, m] = month.split('-').map(Number);
	const first = new Date(Date.UTC(y, m - 1, 1));
	const days = new Date(Date.UTC(y, m, 0)).getUTCDate();
	const lead = (first.getUTCDay() + 6) % 7; // Monday = 0
	const cells: (string | null)[] = Array(lead).fill(null);
	for (let d = 1; d <= days; d++) cells.push(`${month}-${String(d).padStart(2, '0')}`);
	while (cells.length % 7) cells.push(null);
	const weeks = [];
	for (let i = 0; i < cells.length; i += 7) weeks.push(cells.slice(i, i + 7));
	return weeks;
}
